package hostnet

import (
	"fmt"
	"reflect"
	"slices"

	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// The merge of a scoped read into the last read. States are never changed
// once built, so what a scoped read finds as it was is not copied: the new
// state shares the last one's link list (and its index), routes and VLANs
// where none of the links read again changed them, and copies the list
// once, changing a few entries, where links changed but none came or went.
// A node with a thousand VM ports then pays for the links read again, not
// for the thousand.

// mergeLinks puts the links read again (again, sorted by index) into the
// last read's list. It returns, when the list kept its links and their
// order, the positions of those that changed.
func mergeLinks(st, last *hoststate.State, again []hoststate.Link, read map[int]*fresh, freshNames map[string]bool) (changed []int, kept bool) {
	if pos, ok := inPlace(last, again, read, freshNames); ok {
		for i, p := range pos {
			if !reflect.DeepEqual(last.Links[p], again[i]) {
				changed = append(changed, p)
			}
		}
		st.Links = last.Links
		if len(changed) > 0 {
			st.Links = slices.Clone(last.Links)
			for i, p := range pos {
				st.Links[p] = again[i]
			}
		}
		return changed, true
	}
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
	return nil, false
}

// inPlace returns where each link read again is in the last read's list,
// when every one of them is there, none that is there is gone, and none
// took the name of a link that was not read again: then the list keeps
// its links and their order.
func inPlace(last *hoststate.State, again []hoststate.Link, read map[int]*fresh, freshNames map[string]bool) ([]int, bool) {
	for idx, f := range read {
		if _, was := last.LinkByIndex(idx); f.gone && was {
			return nil, false
		}
	}
	for name := range freshNames {
		if l, ok := last.Link(name); ok && read[l.Index] == nil {
			return nil, false
		}
	}
	pos := make([]int, len(again))
	for i := range again {
		p, ok := slices.BinarySearchFunc(last.Links, again[i].Index, func(l hoststate.Link, idx int) int { return l.Index - idx })
		if !ok {
			return nil, false
		}
		pos[i] = p
	}
	return pos, true
}

// mergeRoutes reads again the routes of the links read whole and takes
// the others' from the last read.
func mergeRoutes(sr *strictReader, st, last *hoststate.State, read map[int]*fresh) error {
	routesOf := map[int]bool{}
	for idx, f := range read {
		if f.whole {
			routesOf[idx] = true
		}
	}
	// The kernel drops an IPv4 multipath route whole when one hop's
	// device goes, without a word about the other hops' devices: their
	// routes are read again with the link whose route they shared (only
	// gatewayed IPv4 routes can be such hops; every link's fe80::/64
	// would otherwise tie all links together).
	shared := map[routeKey]bool{}
	for idx := range routesOf {
		for _, r := range last.RoutesOfIndex(idx) {
			if multipathHop(r) {
				shared[keyOf(r)] = true
			}
		}
	}
	if len(shared) > 0 {
		for _, r := range last.Routes {
			if multipathHop(r) && shared[keyOf(r)] {
				routesOf[r.LinkIndex] = true
			}
		}
	}
	// The tables the last read found routes in: a route in a table new
	// since then waits for the next full read (the periodic resync).
	tables := []int{unix.RT_TABLE_MAIN}
	for _, t := range last.RouteTables() {
		if !slices.Contains(tables, t) && t != unix.RT_TABLE_LOCAL && t != unix.RT_TABLE_UNSPEC {
			tables = append(tables, t)
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
		return fmt.Errorf("listing routes: %w", err)
	}
	same := true
	for idx := range routesOf {
		same = same && slices.Equal(last.RoutesOfIndex(idx), routes[idx])
	}
	if same {
		st.Routes = last.Routes
		return nil
	}
	for _, r := range last.Routes {
		if !routesOf[r.LinkIndex] {
			st.Routes = append(st.Routes, r)
		}
	}
	for _, rs := range routes {
		st.Routes = append(st.Routes, rs...)
	}
	return nil
}

// mergeVLANs reads again the VLANs of the ports read whole and takes the
// others' from the last read.
func (h *Host) mergeVLANs(st, last *hoststate.State, read map[int]*fresh, byIndex map[int]*hoststate.Link, ports []int) error {
	stale := map[string]bool{} // the names whose VLANs were read again
	for idx, f := range read {
		if !f.whole {
			continue
		}
		if l, ok := last.LinkByIndex(idx); ok {
			stale[l.Name] = true
		}
		if !f.gone {
			stale[f.link.Name] = true
		}
	}
	now := map[string][]hoststate.VLAN{}
	// Without RTM_GETVLAN a port's VLANs come only with a dump of every
	// port; where no bridge filters VLANs there are none to read (this is
	// also a kernel without CONFIG_BRIDGE_VLAN_FILTERING).
	if len(ports) > 0 && (!h.vlanDBRefused.Load() || anyFiltersVLANs(last, byIndex)) {
		vl, err := h.readVLANs(ports)
		if err != nil {
			return err
		}
		for idx, v := range vl {
			if l := byIndex[idx]; l != nil && l.MasterIndex != 0 && len(v) > 0 {
				now[l.Name] = v
			}
		}
	}
	same := true
	for name := range stale {
		v, had := last.PortVLANs[name]
		w, has := now[name]
		same = same && had == has && slices.Equal(v, w)
	}
	if same {
		st.PortVLANs = last.PortVLANs
		return nil
	}
	st.PortVLANs = make(map[string][]hoststate.VLAN, len(last.PortVLANs))
	for name, v := range last.PortVLANs {
		if !stale[name] {
			st.PortVLANs[name] = v
		}
	}
	for name, v := range now {
		st.PortVLANs[name] = v
	}
	return nil
}

// anyFiltersVLANs reports whether a bridge of the new read has
// vlan_filtering on, from the last read's index and the links read
// again, without looking at every link.
func anyFiltersVLANs(last *hoststate.State, byIndex map[int]*hoststate.Link) bool {
	if last.FiltersVLANs() {
		return true // or had, a pass ago: reading VLANs then is only slower
	}
	for _, l := range byIndex {
		if l.VLANFiltering != nil && *l.VLANFiltering {
			return true
		}
	}
	return false
}
