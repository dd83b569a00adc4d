package reconcile_test

import (
	"fmt"
	"slices"
	"testing"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/plan"
)

// TestACrashAtAnyActionOfABondIsFinishedByTheNextAgent is the crash test
// (TestACrashAtAnyActionIsFinishedByTheNextAgent) for a bond of the
// management NIC eth0 and eth1: where an agent dies while building it or
// taking it apart with eth0's configuration in flight (see critical), the
// node still answers on its management address
// (through eth0, or the bridge over the bond) and the next agent leaves
// the node exactly as an uninterrupted run does.
func TestACrashAtAnyActionOfABondIsFinishedByTheNextAgent(t *testing.T) {
	nt.RequireKernel(t, nt.KernelHasBonding(t), "bonding (CONFIG_BONDING)")
	bonded := bondSpec(v1alpha1.BondModeActiveBackup, 0, "eth0", "eth1")
	scenarios := []struct {
		name          string
		before, after desired.Input
	}{
		{"bond the management NIC with eth1", desired.Input{}, bonded},
		{"take the bond apart", bonded, desired.Input{}},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			ref := crashNode(t)
			ref.reconcile(t, sc.before)
			applied := ref.reconcile(t, sc.after).Applied
			n := len(applied)
			want := shape(t, ref.node)
			for _, k := range critical(applied) {
				crashAfter(t, k, n, sc.before, sc.after, want, reachableOverBond)
			}
		})
	}
}

// reachableOverBond is reachable, or the bridge holding address and default
// route over an up bond with an up slave: while eth0 is set down to join
// the bond, eth1 carries the node.
func reachableOverBond(t *testing.T, node *nt.Node) string {
	t.Helper()
	direct := reachable(t, node)
	if direct == "" {
		return ""
	}
	b, _ := node.Link(t, br)
	bond, ok := node.Link(t, bo)
	if !ok || bond.Master != br || !bond.Up() || !b.Up() {
		return direct + fmt.Sprintf("; nor over %s (present %v, master %q, up %v)", bo, ok, bond.Master, bond.Up())
	}
	if !slices.Contains(b.GlobalAddrs(), "10.11.0.5/24") || !hasRoute(node.Routes(t, "-4", br), "default via 10.11.0.1") {
		return direct + "; nor over " + br + ", which lacks 10.11.0.5/24 or the default route"
	}
	for _, s := range []string{"eth0", "eth1"} {
		if l, _ := node.Link(t, s); l.Master == bo && l.Up() && l.OperState == "UP" {
			return ""
		}
	}
	return direct + "; nor over " + bo + ", which has no up slave"
}

// critical returns the crash points where the management NIC eth0 is
// mid-move: right after it goes down, joins or leaves the bond, and after
// the first route copied and the first route removed on each side. Every
// crash point costs a node under emulation and the VM tier has minutes for
// all of pkg/reconcile (at every action this test alone took about 150 s);
// the single-NIC crash test covers every action on the host kernel.
func critical(applied []plan.Action) []int {
	var out []int
	seen := map[string]bool{}
	for k := 1; k < len(applied); k++ {
		prev, key := applied[k-1], ""
		switch {
		case prev.Link == "eth0" && (prev.Op == plan.SetDown || prev.Op == plan.SetMaster || prev.Op == plan.SetNoMaster):
			key = string(prev.Op)
		case prev.Op == plan.AddRoute || prev.Op == plan.DelRoute:
			key = string(prev.Op) + " " + prev.Link
		}
		if key != "" && !seen[key] {
			seen[key] = true
			out = append(out, k)
		}
	}
	return out
}
