package plan

import (
	"slices"
	"sort"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

func uplinkStep(in Input) Step {
	s := Step{Phase: PhaseUplink, Requires: []Phase{PhaseBridge, PhaseBond}}
	for _, p := range releasable(in) {
		if p.Name != in.Desired.Uplink {
			s.add(releaseUplink(in, p)...)
		}
	}
	if b, ok := strayBond(in); ok {
		s.add(takeBondApart(in, b)...)
	}
	if in.Desired.Uplink != "" {
		if in.Desired.Bond != nil {
			s.add(enslave(in, bondLink(in))...)
			s.add(slaveActions(in)...)
		} else {
			nic, _ := in.Host.Link(in.Desired.Uplink)
			s.add(enslave(in, nic)...)
		}
	}
	s.add(mtuActions(in)...)
	return s
}

func releaseAll(in Input) []Action {
	var out []Action
	for _, p := range releasable(in) {
		out = append(out, releaseUplink(in, p)...)
	}
	if b, ok := strayBond(in); ok {
		out = append(out, takeBondApart(in, b)...)
	}
	return out
}

// releaseUplink gives a bridge port that is no longer the uplink back:
// harvnet's bond is taken apart, any other NIC gets its configuration.
func releaseUplink(in Input, p hoststate.Link) []Action {
	if isOurBond(in, p) {
		return takeBondApart(in, p)
	}
	return release(in, p)
}

// releasable returns the bridge ports that are uplinks rather than VM ports:
// those harvnet enslaved, and, on harvnet's own bridge, any physical NIC or
// bond, which a VM never is. On a bridge that is not harvnet's only what
// the state file records is released.
// A NIC that lost its bridge under harvnet is releasable too while harvnet
// still carries its configuration, so that it gets its addresses back.
func releasable(in Input) []hoststate.Link {
	var out []hoststate.Link
	seen := map[string]bool{}
	keep := func(p hoststate.Link) {
		if !seen[p.Name] && !bondHandles(in, p) {
			seen[p.Name] = true
			out = append(out, p)
		}
	}
	// The ports harvnet knows and, on its own bridge, the physical NICs
	// and bonds among them: found by name and by kind, not by looking at
	// every VM port (releasableScan is the same by a scan of every port).
	for _, n := range in.Enslaved {
		if l, ok := in.Host.Link(n); ok && in.Host.IsPortOf(n, in.Desired.Bridge) {
			keep(l)
		}
	}
	if in.Foreign == "" {
		for _, p := range in.Host.PortsOfType(in.Desired.Bridge, "device", "bond") {
			keep(p)
		}
	}
	for name, c := range in.Carried {
		if l, ok := in.Host.Link(name); ok && !in.Host.IsPortOf(name, in.Desired.Bridge) && name != in.Desired.Uplink && !c.empty() && !bondHandles(in, l) {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (c Carried) empty() bool { return len(c.Addrs) == 0 && len(c.Routes) == 0 }

// enslave moves the NIC's addresses and routes onto the bridge without a
// moment where the node has no path: the bridge takes the NIC's MAC and
// addresses, then copies of its routes (gateways last), and only once the
// NIC is a port do the NIC's own copies go.
func enslave(in Input, nic hoststate.Link) []Action {
	br, _ := bridge(in)
	var out []Action
	if br.MAC != nic.MAC {
		out = append(out, Action{Op: SetMAC, Link: br.Name, MAC: nic.MAC})
	}
	if in.Desired.MTU == 0 && br.MTU != nic.MTU {
		out = append(out, Action{Op: SetMTU, Link: br.Name, MTU: nic.MTU})
	}
	out = append(out, moveAddrsAndRoutes(in, nic, in.Host.RoutesOf(nic.Name), br, nic.Name, func() []Action {
		var mid []Action
		if nic.MasterIndex == 0 || nic.MasterIndex != br.Index {
			mid = append(mid, Action{Op: SetMaster, Link: nic.Name, Master: br.Name})
		}
		if !nic.AdminUp {
			mid = append(mid, Action{Op: SetUp, Link: nic.Name})
		}
		return mid
	})...)
	return out
}

// release gives the bridge's addresses and routes back to the NIC and leaves
// the NIC up, in the same order as enslave.
func release(in Input, nic hoststate.Link) []Action {
	br, _ := bridge(in)
	isPort := nic.MasterIndex != 0 && nic.MasterIndex == br.Index
	from, routes := br, in.Host.RoutesOf(br.Name)
	if !isPort {
		// No longer a port: the bridge was deleted under harvnet, or an
		// agent died mid-release. The NIC gets back what harvnet carried
		// for it, and the bridge loses its copies of that and nothing else.
		from, routes = in.Carried[nic.Name].CopiesOn(br, routes)
		if !nic.AdminUp {
			// Down, as a NIC is once it left a bond (leaving closes it):
			// up first, or the kernel refuses its routes.
			up := Action{Op: SetUp, Link: nic.Name}
			return append([]Action{up}, moveAddrsAndRoutes(in, from, routes, nic, nic.Name, func() []Action { return nil })...)
		}
	}
	return moveAddrsAndRoutes(in, from, routes, nic, nic.Name, func() []Action {
		var mid []Action
		if isPort {
			mid = append(mid, Action{Op: SetNoMaster, Link: nic.Name})
		}
		if !nic.AdminUp {
			mid = append(mid, Action{Op: SetUp, Link: nic.Name})
		}
		return mid
	})
}

// CopiesOn returns what of c the bridge still holds: its addresses, and
// those of routes (the bridge's) that are carried routes.
func (c Carried) CopiesOn(br hoststate.Link, routes []hoststate.Route) (hoststate.Link, []hoststate.Route) {
	out := hoststate.Link{Name: br.Name}
	for _, a := range br.Addrs {
		if c.Addrs.Has(a.Prefix) {
			out.Addrs = append(out.Addrs, a)
		}
	}
	var rs []hoststate.Route
	for _, r := range routes {
		if slices.ContainsFunc(c.Routes, r.Same) {
			rs = append(rs, r)
		}
	}
	return out, rs
}

// moveAddrsAndRoutes copies from's global addresses and configured routes
// (fromRoutes), and whatever harvnet carries for owner, to to; runs the
// switch-over actions; then removes from's copies.
func moveAddrsAndRoutes(in Input, from hoststate.Link, fromRoutes []hoststate.Route, to hoststate.Link, owner string, switchOver func() []Action) []Action {
	var out []Action
	carried := in.Carried[owner]
	addrs := from.GlobalAddrs()
	for _, a := range unionAddrs(addrs, carried.Addrs) {
		if !to.Addrs.Has(a.Prefix) {
			out = append(out, Action{Op: AddAddr, Link: to.Name, Addr: a, Owner: owner})
		}
	}
	routes := copyableRoutes(fromRoutes)
	have := in.Host.RoutesOf(to.Name)
	for _, r := range copyableRoutes(unionRoutes(routes, carried.Routes)) {
		if !slices.ContainsFunc(have, r.Same) {
			out = append(out, Action{Op: AddRoute, Link: to.Name, Route: r, Owner: owner})
		}
	}
	out = append(out, switchOver()...)
	for i := len(routes) - 1; i >= 0; i-- {
		out = append(out, Action{Op: DelRoute, Link: from.Name, Route: routes[i]})
	}
	for _, a := range addrs {
		out = append(out, Action{Op: DelAddr, Link: from.Name, Addr: a})
	}
	return out
}

// copyableRoutes keeps the routes the node's configuration made, direct
// routes first and gateway routes last, so a gateway is always reachable
// when its route is added.
func copyableRoutes(rs []hoststate.Route) []hoststate.Route {
	var out []hoststate.Route
	for _, r := range rs {
		if r.Copyable() {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return !out[i].Gw.IsValid() && out[j].Gw.IsValid() })
	return out
}

func unionAddrs(a, b []hoststate.Addr) []hoststate.Addr {
	out := append(hoststate.Addrs(nil), a...)
	for _, x := range b {
		if !out.Has(x.Prefix) {
			out = append(out, x)
		}
	}
	return out
}

func unionRoutes(a, b []hoststate.Route) []hoststate.Route {
	out := append([]hoststate.Route(nil), a...)
	for _, r := range b {
		if !slices.ContainsFunc(out, r.Same) {
			out = append(out, r)
		}
	}
	return out
}
