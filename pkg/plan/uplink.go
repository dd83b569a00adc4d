package plan

import (
	"sort"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

func uplinkStep(in Input) Step {
	s := Step{Phase: PhaseUplink, Requires: []Phase{PhaseBridge}}
	for _, p := range releasable(in) {
		if p.Name != in.Desired.Uplink {
			s.add(release(in, p)...)
		}
	}
	if in.Desired.Uplink != "" {
		nic, _ := in.Host.Link(in.Desired.Uplink)
		s.add(enslave(in, nic)...)
	}
	return s
}

func releaseAll(in Input) []Action {
	var out []Action
	for _, p := range releasable(in) {
		out = append(out, release(in, p)...)
	}
	return out
}

// releasable returns the bridge ports that are uplinks rather than VM ports:
// those harvnet enslaved, and any physical NIC or bond, which a VM never is.
func releasable(in Input) []hoststate.Link {
	known := map[string]bool{}
	for _, n := range in.Enslaved {
		known[n] = true
	}
	var out []hoststate.Link
	for _, p := range in.Host.Ports(in.Desired.Bridge) {
		if known[p.Name] || p.Type == "device" || p.Type == "bond" {
			out = append(out, p)
		}
	}
	return out
}

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
	if br.MTU != nic.MTU {
		out = append(out, Action{Op: SetMTU, Link: br.Name, MTU: nic.MTU})
	}
	out = append(out, moveAddrsAndRoutes(in, nic, br, func() []Action {
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
	return moveAddrsAndRoutes(in, br, nic, func() []Action {
		mid := []Action{{Op: SetNoMaster, Link: nic.Name}}
		if !nic.AdminUp {
			mid = append(mid, Action{Op: SetUp, Link: nic.Name})
		}
		return mid
	})
}

// moveAddrsAndRoutes copies from's global addresses and configured routes to
// to, runs the switch-over actions, then removes from's copies.
func moveAddrsAndRoutes(in Input, from, to hoststate.Link, switchOver func() []Action) []Action {
	var out []Action
	addrs := from.GlobalAddrs()
	for _, a := range addrs {
		if !to.HasAddr(a.Prefix) {
			out = append(out, Action{Op: AddAddr, Link: to.Name, Addr: a})
		}
	}
	routes := copyableRoutes(in.Host.RoutesOf(from.Name))
	have := in.Host.RoutesOf(to.Name)
	for _, r := range routes {
		if !containsRoute(have, r) {
			out = append(out, Action{Op: AddRoute, Link: to.Name, Route: r})
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

func containsRoute(rs []hoststate.Route, r hoststate.Route) bool {
	for _, x := range rs {
		if sameRoute(x, r) {
			return true
		}
	}
	return false
}

// sameRoute compares what makes a route the same route on another device.
func sameRoute(a, b hoststate.Route) bool {
	return a.Family == b.Family && a.Dst == b.Dst && a.Gw == b.Gw && a.Table == b.Table && a.Priority == b.Priority
}
