package hoststate

import (
	"slices"
	"strings"
)

// linkIndex finds links of one Links slice by name, by index and by
// master without scanning them: an event pass on a node with a thousand VM
// ports asks a state for its bridge, its uplinks and the bridge's ports
// many times. It holds positions in the slice it was built for (base, n),
// and is used only with that slice; a state whose Links were replaced
// (a copy of a State given other Links) builds its own.
type linkIndex struct {
	base    *Link
	n       int
	byName  map[string]int
	byIndex map[int]int
	// ports holds, by master index, the positions of its ports sorted by
	// name; portsByType and portsByMTU the same split by kind and MTU.
	ports       map[int][]int
	portsByType map[int]map[string][]int
	portsByMTU  map[int]map[int][]int
	// filtersVLANs is set when a bridge has vlan_filtering on.
	filtersVLANs bool
}

func (x *linkIndex) validFor(links []Link) bool {
	return x != nil && x.n == len(links) && (x.n == 0 || x.base == &links[0])
}

// index returns the index of s.Links, building it on first use. States
// are not changed once built (see ShareIndex), so one index serves every
// reader of a state.
func (s *State) index() *linkIndex {
	if x := s.loadIndex(); x.validFor(s.Links) {
		return x
	}
	x := buildIndex(s.Links)
	s.idx.Store(x)
	return x
}

func (s *State) loadIndex() *linkIndex {
	x, _ := s.idx.Load().(*linkIndex)
	return x
}

func buildIndex(links []Link) *linkIndex {
	x := &linkIndex{n: len(links), byName: make(map[string]int, len(links)), byIndex: make(map[int]int, len(links)),
		ports: map[int][]int{}, portsByType: map[int]map[string][]int{}, portsByMTU: map[int]map[int][]int{}}
	if len(links) > 0 {
		x.base = &links[0]
	}
	for i := range links {
		l := &links[i]
		if _, dup := x.byName[l.Name]; !dup { // the first, as a scan finds it
			x.byName[l.Name] = i
		}
		if _, dup := x.byIndex[l.Index]; !dup {
			x.byIndex[l.Index] = i
		}
		if l.MasterIndex != 0 {
			x.ports[l.MasterIndex] = append(x.ports[l.MasterIndex], i)
		}
		x.filtersVLANs = x.filtersVLANs || filters(*l)
	}
	byName := func(a, b int) int { return strings.Compare(links[a].Name, links[b].Name) }
	for m, at := range x.ports {
		slices.SortStableFunc(at, byName)
		types, mtus := map[string][]int{}, map[int][]int{}
		for _, i := range at { // stays sorted by name
			types[links[i].Type] = append(types[links[i].Type], i)
			mtus[links[i].MTU] = append(mtus[links[i].MTU], i)
		}
		x.portsByType[m], x.portsByMTU[m] = types, mtus
	}
	return x
}

// ShareIndex lets s use from's indexes where they hold for s: its link
// index when s.Links is from.Links with at most the links at positions
// replaced changed in anything but their index, name, master, kind, MTU
// and VLAN filtering (what the index knows of them), its route index when s.Routes is
// from.Routes. A scoped read whose few re-read links are as they were
// then builds no new index. It reports whether s took the link index.
func (s *State) ShareIndex(from *State, replaced []int) bool {
	s.ShareRouteIndex(from)
	x := from.loadIndex()
	if !x.validFor(from.Links) || len(s.Links) != len(from.Links) {
		return false
	}
	for _, i := range replaced {
		a, b := &s.Links[i], &from.Links[i]
		if a.Index != b.Index || a.Name != b.Name || a.MasterIndex != b.MasterIndex || a.Type != b.Type || a.MTU != b.MTU ||
			filters(*a) != filters(*b) {
			return false
		}
	}
	if len(s.Links) > 0 && &s.Links[0] != &from.Links[0] {
		y := *x
		y.base = &s.Links[0]
		x = &y
	}
	s.idx.Store(x)
	return true
}

// positions copies the links at the given positions.
func (s *State) at(positions []int) []Link {
	if len(positions) == 0 {
		return nil
	}
	out := make([]Link, len(positions))
	for j, i := range positions {
		out[j] = s.Links[i]
	}
	return out
}

// byNameThenPosition orders positions as Ports lists its links.
func (s *State) byNameThenPosition(a, b int) int {
	if c := strings.Compare(s.Links[a].Name, s.Links[b].Name); c != 0 {
		return c
	}
	return a - b
}

func filters(l Link) bool { return l.VLANFiltering != nil && *l.VLANFiltering }

// FiltersVLANs reports whether a bridge has vlan_filtering on.
func (s *State) FiltersVLANs() bool { return s.index().filtersVLANs }

// PortsOfType returns master's ports of the given kinds (Link.Type), sorted
// by name: the uplinks among a bridge's ports without looking at its VM
// ports.
func (s *State) PortsOfType(master string, types ...string) []Link {
	m, ok := s.Link(master)
	if !ok {
		return nil
	}
	byType := s.index().portsByType[m.Index]
	var at []int
	for _, t := range types {
		at = append(at, byType[t]...)
	}
	slices.SortFunc(at, s.byNameThenPosition)
	return s.at(slices.Compact(at))
}

// PortsWithoutMTU returns master's ports whose MTU is not mtu, sorted by
// name: the ports an MTU change must set, found without looking at the
// ports that already have it.
func (s *State) PortsWithoutMTU(master string, mtu int) []Link {
	m, ok := s.Link(master)
	if !ok {
		return nil
	}
	var at []int
	for v, ps := range s.index().portsByMTU[m.Index] {
		if v != mtu {
			at = append(at, ps...)
		}
	}
	slices.SortFunc(at, s.byNameThenPosition)
	return s.at(at)
}

// IsPortOf reports whether the link named name is a port of the link
// named master.
func (s *State) IsPortOf(name, master string) bool {
	m, ok := s.Link(master)
	if !ok {
		return false
	}
	l, ok := s.Link(name)
	return ok && l.MasterIndex == m.Index
}

// Copy returns a copy of s that shares its lists and maps but not its
// index: what a caller builds a changed state from, or compares with
// reflect.DeepEqual (an index built on one of two equal states would tell
// them apart).
func (s *State) Copy() *State {
	out := &State{Links: s.Links, Routes: s.Routes, PortVLANs: s.PortVLANs, BridgeNFCallIPTables: s.BridgeNFCallIPTables,
		Forward: s.Forward, DHCPRules: s.DHCPRules, DHCPBackend: s.DHCPBackend, Doctor: s.Doctor}
	return out
}

// routeIndex holds the positions of each link's routes in one Routes
// slice (base, n), as linkIndex does for Links.
type routeIndex struct {
	base   *Route
	n      int
	ofLink map[int][]int
	tables []int // as first found in Routes
}

func (x *routeIndex) validFor(routes []Route) bool {
	return x != nil && x.n == len(routes) && (x.n == 0 || x.base == &routes[0])
}

// ShareRouteIndex lets s use from's route index when s.Routes is
// from.Routes (see ShareIndex).
func (s *State) ShareRouteIndex(from *State) {
	if r := from.loadRouteIndex(); r.validFor(from.Routes) && r.validFor(s.Routes) {
		s.ridx.Store(r)
	}
}

func (s *State) loadRouteIndex() *routeIndex {
	x, _ := s.ridx.Load().(*routeIndex)
	return x
}

func (s *State) routeIndex() *routeIndex {
	if x := s.loadRouteIndex(); x.validFor(s.Routes) {
		return x
	}
	x := &routeIndex{n: len(s.Routes), ofLink: map[int][]int{}}
	if len(s.Routes) > 0 {
		x.base = &s.Routes[0]
	}
	for i, r := range s.Routes {
		x.ofLink[r.LinkIndex] = append(x.ofLink[r.LinkIndex], i)
		if !slices.Contains(x.tables, r.Table) {
			x.tables = append(x.tables, r.Table)
		}
	}
	s.ridx.Store(x)
	return x
}

// RoutesOfIndex returns the routes whose device is the link with that
// index, in their order in Routes.
func (s *State) RoutesOfIndex(index int) []Route {
	var out []Route
	for _, i := range s.routeIndex().ofLink[index] {
		out = append(out, s.Routes[i])
	}
	return out
}

// RouteTables returns the tables Routes has routes in, each once, in the
// order Routes first has them.
func (s *State) RouteTables() []int { return slices.Clone(s.routeIndex().tables) }
