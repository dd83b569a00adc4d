package reconcile_test

import (
	"net/netip"
	"testing"

	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

func TestMovesNode(t *testing.T) {
	addr := hoststate.Addr{Prefix: netip.MustParsePrefix("10.11.0.5/24")}
	gw := hoststate.Route{Gw: netip.MustParseAddr("10.11.0.1"), Family: 2}
	step := func(ph plan.Phase, as ...plan.Action) plan.Step { return plan.Step{Phase: ph, Actions: as} }
	cases := []struct {
		name string
		p    plan.Plan
		want bool
	}{
		{"nothing to do", nil, false},
		{"a bridge and VLANs", plan.Plan{step(plan.PhaseBridge, plan.Action{Op: plan.CreateBridge, Link: "br"}), step(plan.PhaseVLANs, plan.Action{Op: plan.AddVLANs, Link: "eth1"})}, false},
		{"enslave a NIC without addresses", plan.Plan{step(plan.PhaseUplink, plan.Action{Op: plan.SetMaster, Link: "eth1", Master: "br"})}, false},
		{"enslave the management NIC", plan.Plan{step(plan.PhaseUplink,
			plan.Action{Op: plan.AddAddr, Link: "br", Addr: addr, Owner: "eth0"},
			plan.Action{Op: plan.AddRoute, Link: "br", Route: gw, Owner: "eth0"},
			plan.Action{Op: plan.SetMaster, Link: "eth0", Master: "br"},
			plan.Action{Op: plan.DelAddr, Link: "eth0", Addr: addr})}, true},
		{"release it: the NIC gets its default route back", plan.Plan{step(plan.PhaseUplink,
			plan.Action{Op: plan.AddRoute, Link: "eth0", Route: gw, Owner: "eth0"},
			plan.Action{Op: plan.SetNoMaster, Link: "eth0"})}, true},
		{"only removing copies left behind", plan.Plan{step(plan.PhaseUplink, plan.Action{Op: plan.DelAddr, Link: "br", Addr: addr})}, false},
		{"an address outside the uplink step", plan.Plan{step(plan.PhaseBridge, plan.Action{Op: plan.AddAddr, Link: "br", Addr: addr, Owner: "eth0"})}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := reconcile.MovesNode(c.p); got != c.want {
				t.Errorf("MovesNode() = %v, want %v", got, c.want)
			}
		})
	}
}
