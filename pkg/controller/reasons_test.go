package controller

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
	"github.com/harvnet/harvnet/pkg/status"
)

// The controller links no agent package (make check-deps), so it spells
// the agent's terminal Ready reasons out; this keeps them in step.
func TestTerminalReasonsAreTheAgents(t *testing.T) {
	agents := map[string]bool{}
	for _, r := range []string{
		status.ReasonUnsupported, status.ReasonNoCarrier,
		desired.ReasonInvalidSpec, desired.ReasonInvalidNIC, desired.ReasonInvalidVLAN, desired.ReasonNICNotFound,
		desired.ReasonNICTypeNotAllowed, desired.ReasonNICEnslavedElsewhere, desired.ReasonNICAmbiguous, desired.ReasonNICHasUpperDevices,
		plan.ReasonNotOwned,
	} {
		agents[r] = true
		if !terminalReasons[r] {
			t.Errorf("agent reason %q is not terminal for the rollout", r)
		}
	}
	for r := range terminalReasons {
		if !agents[r] {
			t.Errorf("terminal reason %q is no agent reason", r)
		}
	}
	for _, r := range []string{status.ReasonProbing, status.ReasonPending, status.ReasonWaiting, status.ReasonApplyFailed, status.ReasonHostUnreadable, status.ReasonCheckpointCorrupt} {
		if terminalReasons[r] {
			t.Errorf("reason %q, which the agent leaves on its way, ends a node's change", r)
		}
	}
}

// What the real agent writes when it rolled a change back (status.Build
// over a pass that restored the last good input) halts the rollout, naming
// the node, the generation and the probe.
func TestAgentsRollbackReportHalts(t *testing.T) {
	res := reconcile.Result{
		Input:      desired.Input{Generation: 2},
		Host:       &hoststate.State{},
		RolledBack: &checkpoint.RolledBack{Generation: 2, Probe: "gateway 10.0.0.1 (arp)", Why: "no ARP reply", Step: v1alpha1.ConditionUplinkReady, Time: t0},
	}
	n := obj("n1", v1alpha1.NetworkTypeVLAN, 2, 0, "", "")
	n.Status = status.Build(res, desired.Options{BridgeName: "harvester-br0"}, 2)
	p := planRollout(rolloutInput{Network: network(true), Cores: cores("n1", "n2"), Objects: []*v1alpha1.Node{n}, Now: t0})
	c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionRolloutHalted)
	if len(p.Ops) != 0 || p.Status.Rollout.HaltedBy != "n1" || c == nil || !strings.Contains(c.Message, "node n1 rolled back generation 2") || !strings.Contains(c.Message, "gateway 10.0.0.1 (arp)") {
		t.Errorf("ops %v, rollout %+v, RolloutHalted %+v; want halted by n1 naming generation 2 and the probe", ops(p), p.Status.Rollout, c)
	}
	if status.ReasonRolledBack != v1alpha1.ReasonRolledBack {
		t.Errorf("the agent's RolledBack reason %q is not the API's %q", status.ReasonRolledBack, v1alpha1.ReasonRolledBack)
	}
}
