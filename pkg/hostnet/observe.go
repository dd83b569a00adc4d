package hostnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// infiniteLft is the kernel's "forever" address lifetime.
const infiniteLft = 0xffffffff

// dumpRetries bound how often Observe starts over when the kernel says a
// dump was interrupted (NLM_F_DUMP_INTR: the table changed while it was
// read, e.g. an IPv6 address finishing DAD). netlinksafe already retries
// each dump at once a few times; on a slow or busy node those can all land
// in the same burst of changes, so Observe waits a little and reads the
// whole picture again rather than failing the pass.
var dumpRetries = []time.Duration{time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond}

// Observe reads the host's links, addresses, routes and bridge VLANs, plus
// the netfilter parts read by the last RefreshNetfilter.
func (h *Host) Observe() (*hoststate.State, error) {
	st, err := h.observe()
	for _, wait := range dumpRetries {
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
		time.Sleep(wait)
		st, err = h.observe()
	}
	if err == nil {
		h.remember(st)
	}
	return st, err
}

func (h *Host) observe() (*hoststate.State, error) {
	links, err := h.nl.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	addrs, err := h.nl.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	routes, err := h.nl.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	st := &hoststate.State{}
	byIndex := map[int]*hoststate.Link{}
	activeSlaves := map[int]int{}
	for _, l := range links {
		hl := toLink(l)
		activeSlaves[hl.Index] = bondParts(l, &hl)
		st.Links = append(st.Links, hl)
	}
	sort.Slice(st.Links, func(i, j int) bool { return st.Links[i].Index < st.Links[j].Index })
	h.hw.fill(st.Links)
	for i := range st.Links {
		byIndex[st.Links[i].Index] = &st.Links[i]
	}
	if err := h.fillBonds(byIndex, activeSlaves); err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if l := byIndex[a.LinkIndex]; l != nil {
			l.Addrs = append(l.Addrs, toAddr(a))
		}
	}
	for _, r := range routes {
		st.Routes = append(st.Routes, toRoutes(r)...)
	}
	if st.PortVLANs, err = h.portVLANs(byIndex); err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.netfilter.copyTo(st)
	h.mu.Unlock()
	return st, nil
}

func toLink(l netlink.Link) hoststate.Link {
	a := l.Attrs()
	out := hoststate.Link{
		Name:        a.Name,
		Index:       a.Index,
		Type:        l.Type(),
		MAC:         a.HardwareAddr.String(),
		MTU:         a.MTU,
		AdminUp:     a.Flags&net.FlagUp != 0,
		OperState:   a.OperState.String(),
		Carrier:     a.RawFlags&unix.IFF_LOWER_UP != 0,
		Promisc:     a.Promisc != 0 || a.RawFlags&unix.IFF_PROMISC != 0,
		MasterIndex: a.MasterIndex,
		Loopback:    a.Flags&net.FlagLoopback != 0,
		Alias:       a.Alias,
	}
	switch l.Type() {
	case "vlan", "macvlan", "macvtap", "ipvlan", "ipvtap":
		out.ParentIndex = a.ParentIndex
	}
	// The kernel sends IFLA_PERM_ADDRESS only for a device with a burnt-in
	// address (not a veth, bridge or bond).
	if p := a.PermHWAddr; len(p) > 0 && slices.ContainsFunc(p, func(b byte) bool { return b != 0 }) {
		out.PermanentMAC = p.String()
	}
	if br, ok := l.(*netlink.Bridge); ok {
		on := br.VlanFiltering != nil && *br.VlanFiltering
		out.VLANFiltering = &on
	}
	return out
}

func toAddr(a netlink.Addr) hoststate.Addr {
	p, _ := netip.AddrFromSlice(a.IP)
	ones, _ := a.Mask.Size()
	out := hoststate.Addr{Prefix: netip.PrefixFrom(p.Unmap(), ones), Scope: a.Scope}
	if a.ValidLft != infiniteLft || a.PreferedLft != infiniteLft {
		out.ValidLft, out.PreferredLft = a.ValidLft, a.PreferedLft
	}
	return out
}

// toRoutes returns a unicast route of a real table as one Route per
// device: a multipath route as one per next hop. IPv6 joins a route
// appended on a second device with the first into one multipath route, as
// happens for a moment while a NIC's routes move to the bridge; each hop
// is still one device's route, to move or remove on its own. Local and
// broadcast routes are not the node's configuration to move.
func toRoutes(r netlink.Route) []hoststate.Route {
	if r.Type != unix.RTN_UNICAST || r.Table == unix.RT_TABLE_LOCAL {
		return nil
	}
	if len(r.MultiPath) == 0 {
		if r.LinkIndex == 0 {
			return nil
		}
		return []hoststate.Route{toRoute(r)}
	}
	var out []hoststate.Route
	for _, nh := range r.MultiPath {
		if nh.LinkIndex == 0 {
			continue
		}
		hop := toRoute(r)
		hop.LinkIndex, hop.Gw = nh.LinkIndex, ipOf(nh.Gw)
		out = append(out, hop)
	}
	return out
}

func toRoute(r netlink.Route) hoststate.Route {
	out := hoststate.Route{
		LinkIndex: r.LinkIndex,
		Protocol:  int(r.Protocol),
		Scope:     int(r.Scope),
		Table:     r.Table,
		Priority:  r.Priority,
		Family:    r.Family,
	}
	if r.Dst != nil {
		ip, _ := netip.AddrFromSlice(r.Dst.IP)
		ones, _ := r.Dst.Mask.Size()
		out.Dst = netip.PrefixFrom(ip.Unmap(), ones)
		if ones == 0 {
			out.Dst = netip.Prefix{} // 0.0.0.0/0 and ::/0 are the default route
		}
	}
	out.Gw = ipOf(r.Gw)
	out.Src = ipOf(r.Src)
	return out
}

func ipOf(ip net.IP) netip.Addr {
	if ip == nil {
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func (h *Host) portVLANs(byIndex map[int]*hoststate.Link) (map[string][]hoststate.VLAN, error) {
	vl, err := h.readVLANs(nil)
	if err != nil {
		return nil, err
	}
	out := map[string][]hoststate.VLAN{}
	for idx, vlans := range vl {
		l := byIndex[idx]
		if l == nil || l.MasterIndex == 0 {
			continue // the bridge's own (self) VLANs are not the uplink's
		}
		out[l.Name] = vlans
	}
	return out, nil
}
