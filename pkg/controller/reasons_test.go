package controller

import (
	"testing"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/plan"
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
	for _, r := range []string{status.ReasonPending, status.ReasonWaiting, status.ReasonApplyFailed, status.ReasonHostUnreadable, status.ReasonCheckpointCorrupt} {
		if terminalReasons[r] {
			t.Errorf("reason %q, which the agent leaves on its way, ends a node's change", r)
		}
	}
}
