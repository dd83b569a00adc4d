package hostnet

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// maxScoped is where reading links one by one stops paying: past it, one
// dump of every link, address and route costs less than a few requests
// per link.
const maxScoped = 128

// ObserveScoped is the read of an event pass. It reads again only the
// links in s (by index and by name, with their addresses, routes and
// bridge VLANs, each asked of the kernel for that link alone) and takes
// every other link from the last read: a node with a thousand VM ports
// pays for the few links that changed, not for the thousand.
//
// That is exact as long as every change since the last read is in
// s.Changed, which the netlink monitor guarantees while it has lost no
// event; after a lost event (a resubscription) and on every periodic
// resync the caller reads everything with Observe, which also bounds how
// long a mistake could last. Without a last read, or a kernel that cannot
// filter dumps by link (NETLINK_GET_STRICT_CHK, Linux 4.20), it is Observe.
func (h *Host) ObserveScoped(s hoststate.Scope) (*hoststate.State, error) {
	h.mu.Lock()
	last := h.last
	h.mu.Unlock()
	if last == nil || len(s.Changed)+len(s.Names) > maxScoped {
		return h.Observe()
	}
	sr, err := h.strictReader()
	if err != nil {
		return h.Observe()
	}
	st, err := h.observeScoped(sr, last, s)
	if err != nil {
		return nil, err
	}
	h.remember(st)
	return st, nil
}

// remember keeps st as the base of the next scoped read. States are never
// changed once built (a scoped read copies what it keeps), so st may also
// be in the caller's hands.
func (h *Host) remember(st *hoststate.State) {
	h.mu.Lock()
	h.last = st
	h.mu.Unlock()
}

// fresh is one link read again: gone when the kernel no longer has it.
type fresh struct {
	link   hoststate.Link
	active int // a bond's active slave, by index
	gone   bool
}

func (h *Host) observeScoped(sr *strictReader, last *hoststate.State, s hoststate.Scope) (*hoststate.State, error) {
	read := map[int]*fresh{}
	keep := func(l netlink.Link) {
		f := &fresh{link: toLink(l)}
		f.active = bondParts(l, &f.link)
		read[f.link.Index] = f
	}
	readIndex := func(idx int) error {
		if _, done := read[idx]; done || idx <= 0 {
			return nil
		}
		l, err := sr.nl.LinkByIndex(idx)
		if err != nil {
			if isNotFound(err) {
				read[idx] = &fresh{gone: true}
				return nil
			}
			return fmt.Errorf("reading link %d: %w", idx, err)
		}
		keep(l)
		return nil
	}
	for _, idx := range s.Changed {
		if err := readIndex(idx); err != nil {
			return nil, err
		}
	}
	// By name: what holds the name now, which may be a link the last read
	// did not have yet (a bridge just created) or another index than then;
	// then the link that had the name, if another, for what became of it.
	for _, name := range append(slices.Clone(s.Names), newBridgeName) {
		l, err := sr.nl.LinkByName(name)
		switch {
		case isNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading link %s: %w", name, err)
		default:
			if _, done := read[l.Attrs().Index]; !done {
				keep(l)
			}
		}
		if cached, ok := last.Link(name); ok {
			if err := readIndex(cached.Index); err != nil {
				return nil, err
			}
		}
	}
	// A bond read again names its active slave and sets its slaves'
	// partners: they must be read with it.
	for _, f := range mapValues(read) {
		if f.gone || f.link.Bond == nil {
			continue
		}
		for _, l := range last.Links {
			if l.MasterIndex == f.link.Index {
				if err := readIndex(l.Index); err != nil {
					return nil, err
				}
			}
		}
	}

	st := &hoststate.State{}
	byIndex := map[int]*hoststate.Link{} // the links read again only
	freshNames := map[string]bool{}
	for _, f := range read {
		if !f.gone {
			freshNames[f.link.Name] = true
		}
	}
	var again []hoststate.Link
	var ports, alive []int
	for idx, f := range read {
		if !f.gone {
			alive = append(alive, idx)
		}
	}
	addrs, err := sr.addrsOf(alive)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	for idx, f := range read {
		if f.gone {
			continue
		}
		a, ok := addrs[idx]
		if !ok {
			f.gone = true // deleted after it was read
			continue
		}
		f.link.Addrs = a
		again = append(again, f.link)
		if f.link.MasterIndex != 0 {
			ports = append(ports, idx)
		}
	}
	slices.SortFunc(again, func(a, b hoststate.Link) int { return a.Index - b.Index })
	// Both lists are sorted by index: merge them (a thousand VM ports
	// make sorting the whole list the costliest part of the pass).
	st.Links = make([]hoststate.Link, 0, len(last.Links)+len(again))
	for _, l := range last.Links {
		for len(again) > 0 && again[0].Index < l.Index {
			st.Links, again = append(st.Links, again[0]), again[1:]
		}
		// A cached link that another now holds the name of was renamed
		// or deleted in a way whose event is still on its way.
		if _, reread := read[l.Index]; !reread && !freshNames[l.Name] {
			st.Links = append(st.Links, l)
		}
	}
	st.Links = append(st.Links, again...)
	active := map[int]int{}
	for i := range st.Links {
		if f, reread := read[st.Links[i].Index]; reread {
			byIndex[st.Links[i].Index] = &st.Links[i]
			active[st.Links[i].Index] = f.active
		}
	}
	h.hw.fillSome(byIndex)
	if err := h.fillBonds(byIndex, active); err != nil {
		return nil, err
	}

	// The kernel drops an IPv4 multipath route whole when one hop's
	// device goes, without a word about the other hops' devices: their
	// routes are read again with the link whose route they shared (only
	// gatewayed IPv4 routes can be such hops; every link's fe80::/64
	// would otherwise tie all links together).
	routesOf := map[int]bool{}
	for idx := range read {
		routesOf[idx] = true
	}
	shared := map[routeKey]bool{}
	for _, r := range last.Routes {
		if routesOf[r.LinkIndex] && multipathHop(r) {
			shared[keyOf(r)] = true
		}
	}
	for _, r := range last.Routes {
		if multipathHop(r) && shared[keyOf(r)] {
			routesOf[r.LinkIndex] = true
		}
	}
	for _, r := range last.Routes {
		if !routesOf[r.LinkIndex] {
			st.Routes = append(st.Routes, r)
		}
	}
	// The tables the last read found routes in: a route in a table new
	// since then waits for the next full read (the periodic resync).
	tables := []int{unix.RT_TABLE_MAIN}
	for _, r := range last.Routes {
		if !slices.Contains(tables, r.Table) && r.Table != unix.RT_TABLE_LOCAL && r.Table != unix.RT_TABLE_UNSPEC {
			tables = append(tables, r.Table)
		}
	}
	var want []int
	for idx := range routesOf {
		if f := read[idx]; f == nil || !f.gone {
			want = append(want, idx)
		}
	}
	routes, err := sr.routesOf(want, tables)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	for _, rs := range routes {
		st.Routes = append(st.Routes, rs...)
	}

	st.PortVLANs = map[string][]hoststate.VLAN{}
	stale := map[string]bool{}
	for idx := range read {
		if l, ok := last.LinkByIndex(idx); ok {
			stale[l.Name] = true
		}
	}
	for name, v := range last.PortVLANs {
		if !stale[name] && !freshNames[name] {
			st.PortVLANs[name] = v
		}
	}
	// Without RTM_GETVLAN a port's VLANs come only with a dump of every
	// port; where no bridge filters VLANs there are none to read (this is
	// also a kernel without CONFIG_BRIDGE_VLAN_FILTERING).
	if len(ports) > 0 && (!h.vlanDBRefused.Load() || slices.ContainsFunc(st.Links, filtersVLANs)) {
		vl, err := h.readVLANs(ports)
		if err != nil {
			return nil, err
		}
		for idx, v := range vl {
			if l := byIndex[idx]; l != nil && l.MasterIndex != 0 && len(v) > 0 {
				st.PortVLANs[l.Name] = v
			}
		}
	}
	h.mu.Lock()
	h.netfilter.copyTo(st)
	h.mu.Unlock()
	return st, nil
}

func filtersVLANs(l hoststate.Link) bool { return l.VLANFiltering != nil && *l.VLANFiltering }

// routeKey is what the hops of one multipath route have in common.
type routeKey struct {
	family, table, priority int
	dst                     string
}

func multipathHop(r hoststate.Route) bool { return r.Family == unix.AF_INET && r.Gw.IsValid() }

func keyOf(r hoststate.Route) routeKey {
	return routeKey{family: r.Family, table: r.Table, priority: r.Priority, dst: r.Dst.String()}
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
