package doctor

import (
	"fmt"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// vxlanLocal fires for a VXLAN device (flannel's flannel.1) whose local
// address is not on the device it is pinned to, or, unpinned, on no
// interface at all: its tunnel packets leave with a source address the
// peers do not send back to, or not at all.
func vxlanLocal(in Input) []v1alpha1.Diagnostic {
	if in.Host.Doctor == nil {
		return nil
	}
	var out []v1alpha1.Diagnostic
	for _, v := range in.Host.Doctor.VXLANs {
		if !v.Local.IsValid() {
			continue
		}
		holder, held := holderOf(in.Host, v)
		if v.Underlay == 0 {
			if !held {
				out = append(out, diag(CheckVXLANLocal, v.Name, v1alpha1.SeverityError,
					fmt.Sprintf("%s's local address %s is on no interface: its tunnel cannot send", v.Name, v.Local),
					fmt.Sprintf("ip link set dev %s type vxlan local <an address of the interface that carries the node's overlay address>", v.Name)))
			}
			continue
		}
		under, ok := in.Host.LinkByIndex(v.Underlay)
		if !ok || under.Addrs.HasAddr(v.Local) {
			continue
		}
		where := "no interface"
		if held {
			where = holder.Name
		}
		fix := fmt.Sprintf("ip link set dev %s type vxlan local <an address of %s>", v.Name, under.Name)
		for _, a := range under.GlobalAddrs() {
			if a.Prefix.Addr().Is4() == v.Local.Is4() {
				fix = fmt.Sprintf("ip link set dev %s type vxlan local %s", v.Name, a.Prefix.Addr())
				break
			}
		}
		out = append(out, diag(CheckVXLANLocal, v.Name, v1alpha1.SeverityError,
			fmt.Sprintf("%s sends from %s, which is on %s, not on its underlay %s: peers reach this node's VTEP at an address of another interface (for flannel, set --iface to the interface that carries the node's address)", v.Name, v.Local, where, under.Name),
			fix))
	}
	return out
}

// holderOf returns the link that has the VXLAN's local address.
func holderOf(h *hoststate.State, v hoststate.VXLAN) (hoststate.Link, bool) {
	for _, l := range h.Links {
		if l.Addrs.HasAddr(v.Local) {
			return l, true
		}
	}
	return hoststate.Link{}, false
}

// vxlanMTU fires for a VXLAN device less than its encapsulation below its
// underlay's MTU (50 bytes over IPv4, 70 over IPv6): full-size packets
// are fragmented or dropped. The underlay is the device it is pinned to,
// else the one with its local address.
func vxlanMTU(in Input) []v1alpha1.Diagnostic {
	if in.Host.Doctor == nil {
		return nil
	}
	var out []v1alpha1.Diagnostic
	for _, v := range in.Host.Doctor.VXLANs {
		dev, ok := in.Host.Link(v.Name)
		if !ok {
			continue
		}
		under, ok := in.Host.LinkByIndex(v.Underlay)
		if v.Underlay == 0 {
			under, ok = holderOf(in.Host, v)
		}
		if !ok {
			continue
		}
		overhead := 50
		if v.Local.Is6() {
			overhead = 70
		}
		if limit := under.MTU - overhead; dev.MTU > limit {
			out = append(out, diag(CheckVXLANMTU, v.Name, v1alpha1.SeverityError,
				fmt.Sprintf("%s has MTU %d but its underlay %s has %d: VXLAN needs %d bytes of it, so full-size packets are dropped or fragmented", v.Name, dev.MTU, under.Name, under.MTU, overhead),
				fmt.Sprintf("ip link set dev %s mtu %d", v.Name, limit)))
		}
	}
	return out
}

// bridgeMTU fires when the VLAN bridge's MTU is not its uplink's: a
// smaller bridge cuts VMs' packets short, a larger one (set by hand)
// passes what the NIC drops. NAD MTUs are nadMTU's.
func bridgeMTU(in Input) []v1alpha1.Diagnostic {
	br, ok := in.bridge()
	if !ok || in.Uplink == "" {
		return nil
	}
	up, ok := in.Host.Link(in.Uplink)
	if !ok || up.MasterIndex != br.Index || up.MTU == br.MTU {
		return nil
	}
	return []v1alpha1.Diagnostic{diag(CheckBridgeMTU, br.Name, v1alpha1.SeverityWarning,
		fmt.Sprintf("%s has MTU %d but its uplink %s has %d: VM traffic is cut to the smaller, or dropped by the NIC", br.Name, br.MTU, up.Name, up.MTU),
		fmt.Sprintf("ip link set dev %s mtu %d", br.Name, up.MTU))}
}
