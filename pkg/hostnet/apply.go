package hostnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/plan"
)

// Apply carries out one action. Actions are idempotent: one that finds its
// change already made succeeds, so a plan can be re-run after a crash.
func (h *Host) Apply(a plan.Action) error {
	if err := h.apply(a); err != nil {
		if _, ok := plan.AsUnsupported(err); ok {
			return err
		}
		return fmt.Errorf("%s: %w", a, err)
	}
	return nil
}

func (h *Host) apply(a plan.Action) error {
	switch a.Op {
	case plan.CreateBridge:
		return h.createBridge(a.Link)
	case plan.SetAlias:
		return h.withLink(a.Link, func(l netlink.Link) error { return h.nl.LinkSetAlias(l, a.Alias) })
	case plan.DeleteLink:
		return h.withLink(a.Link, func(l netlink.Link) error { return h.nl.LinkDel(l) })
	case plan.SetVLANFiltering:
		return h.withLink(a.Link, func(l netlink.Link) error {
			err := h.do(func() error { return setVLANFiltering(l.Attrs().Index) })
			if errors.Is(err, unix.EOPNOTSUPP) {
				return plan.Unsupported(plan.CapVLANFiltering, "the kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)")
			}
			return err
		})
	case plan.SetUp:
		return h.withLink(a.Link, h.nl.LinkSetUp)
	case plan.SetDown:
		return h.withLink(a.Link, h.nl.LinkSetDown)
	case plan.CreateBond:
		return h.createBond(a)
	case plan.SetBondOptions:
		return h.changeBond(a)
	case plan.SetMTU:
		return h.withLink(a.Link, func(l netlink.Link) error { return h.nl.LinkSetMTU(l, a.MTU) })
	case plan.SetMAC:
		mac, err := net.ParseMAC(a.MAC)
		if err != nil {
			return err
		}
		return h.withLink(a.Link, func(l netlink.Link) error { return h.nl.LinkSetHardwareAddr(l, mac) })
	case plan.SetMaster:
		return h.withLink(a.Master, func(m netlink.Link) error {
			return h.withLink(a.Link, func(l netlink.Link) error {
				if err := h.nl.LinkSetMaster(l, m); err != nil {
					return err
				}
				h.retryUnresolved(m)
				return nil
			})
		})
	case plan.SetNoMaster:
		return h.withLink(a.Link, func(l netlink.Link) error {
			if err := h.nl.LinkSetNoMaster(l); err != nil {
				return err
			}
			h.retryUnresolved(l)
			return nil
		})
	case plan.AddAddr, plan.DelAddr:
		return h.withLink(a.Link, func(l netlink.Link) error { return h.addr(a, l) })
	case plan.AddRoute, plan.DelRoute:
		return h.withLink(a.Link, func(l netlink.Link) error { return h.route(a, l) })
	case plan.AddVLANs, plan.DelVLANs:
		return h.withLink(a.Link, func(l netlink.Link) error { return h.vlans(a, l) })
	case plan.AddDHCPRule, plan.DelDHCPRule:
		return h.dhcpRule(a.Op == plan.AddDHCPRule, a.Rule)
	case plan.SetBridgeNFCall:
		return h.setBridgeNF(a.Value)
	case plan.DelForwardAccept:
		return h.delForwardAccept(a.Backend, a.Link)
	}
	return fmt.Errorf("unknown action %q", a.Op)
}

// newBridgeName is the name a bridge is created under, marked, and renamed
// from. Only harvnet uses it, so one left by a crash is harvnet's to reuse.
const newBridgeName = "harvnet-new"

// createBridge makes the bridge already carrying harvnet's mark: the
// kernel ignores an ifalias in the message that creates a link, and a
// crash between creating and marking must not leave a bridge that the
// next agent takes for someone else's.
func (h *Host) createBridge(name string) error {
	if _, err := h.nl.LinkByName(name); err == nil {
		return nil // made meanwhile; its owner is decided by the next plan
	}
	if err := ignore(h.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: newBridgeName}}), unix.EEXIST); err != nil {
		return err
	}
	return h.withLink(newBridgeName, func(l netlink.Link) error {
		if l.Type() != "bridge" {
			return fmt.Errorf("a %s link named %s is in the way of creating the bridge", l.Type(), newBridgeName)
		}
		if err := h.nl.LinkSetAlias(l, plan.OwnerAlias); err != nil {
			return err
		}
		return h.nl.LinkSetName(l, name)
	})
}

// setVLANFiltering turns on vlan_filtering as `ip link set BR type bridge
// vlan_filtering 1` does: by index, with that one attribute. netlink's
// BridgeSetVlanFiltering re-sends what it read back: IFLA_XDP with fd 0
// (EINVAL, or an attach) and IFLA_IFNAME (EBUSY on an up bridge on 6.1).
// The kernel applies the bridge part before failing on those.
func setVLANFiltering(index int) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bridge"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_BR_VLAN_FILTERING, []byte{1})
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

func (h *Host) withLink(name string, fn func(netlink.Link) error) error {
	l, err := h.nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	return fn(l)
}

func (h *Host) addr(a plan.Action, l netlink.Link) error {
	p := a.Addr.Prefix
	na := &netlink.Addr{
		IPNet: ipNet(p),
		Scope: a.Addr.Scope,
	}
	if a.Op == plan.DelAddr {
		return ignore(h.nl.AddrDel(l, na), unix.EADDRNOTAVAIL)
	}
	if a.Addr.ValidLft != 0 || a.Addr.PreferredLft != 0 {
		na.ValidLft, na.PreferedLft = a.Addr.ValidLft, a.Addr.PreferredLft
	}
	if p.Addr().Is6() {
		// The address moves, it is not new: duplicate address detection
		// would leave it tentative, and the node without IPv6, for a second.
		na.Flags = unix.IFA_F_NODAD
	}
	return ignore(h.nl.AddrAdd(l, na), unix.EEXIST)
}

func (h *Host) route(a plan.Action, l netlink.Link) error {
	r := a.Route
	nr := &netlink.Route{
		LinkIndex: l.Attrs().Index,
		Protocol:  netlink.RouteProtocol(r.Protocol),
		Scope:     netlink.Scope(r.Scope),
		Table:     r.Table,
		Priority:  r.Priority,
		Family:    r.Family,
	}
	if r.Dst.IsValid() {
		nr.Dst = ipNet(r.Dst)
	}
	if r.Gw.IsValid() {
		nr.Gw = r.Gw.AsSlice()
	}
	if r.Src.IsValid() {
		nr.Src = r.Src.AsSlice()
	}
	if a.Op == plan.DelRoute {
		return ignore(h.nl.RouteDel(nr), unix.ESRCH)
	}
	// Append, not add: the same route on the other device stays until the
	// copy is in place, and the kernel refuses an exclusive duplicate.
	return ignore(h.nl.RouteAppend(nr), unix.EEXIST)
}

func (h *Host) vlans(a plan.Action, l netlink.Link) error {
	return h.setVLANs(l.Attrs().Index, a.Op == plan.AddVLANs, a.VIDs)
}

// retryUnresolved drops a link's neighbour entries still being resolved,
// or failed, right after the NIC moved. Traffic routed through the bridge
// before it had its port (addresses and routes go on first) sent ARP and
// neighbour solicitations nowhere, and a NIC's own solicitations while it
// was a port got their answers delivered to the bridge; such an entry holds
// every packet to that neighbour until its retransmit timer, a second
// later (measured: a 0.5-1.2 s outage after the first enslave on Debian's
// 6.1 kernel). Dropped, the next packet asks again on the right link.
func (h *Host) retryUnresolved(link netlink.Link) {
	neighs, err := h.nl.NeighList(link.Attrs().Index, netlink.FAMILY_ALL)
	if err != nil {
		return // best effort: the kernel retries on its own, only later
	}
	for i := range neighs {
		if neighs[i].State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) != 0 {
			_ = h.nl.NeighDel(&neighs[i])
		}
	}
}

// ipNet is netlink's form of a prefix.
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
