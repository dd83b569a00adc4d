package hostloop

import (
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/metrics"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// count turns each kind of pass into the counters an operator alerts on.
func TestCountPasses(t *testing.T) {
	applied := []plan.Action{{Op: plan.CreateBridge}, {Op: plan.SetMaster}, {Op: plan.SetMaster}}
	bridgeFailed := []reconcile.StepResult{
		{Step: plan.Step{Phase: plan.PhaseBridge, Actions: []plan.Action{{Op: plan.SetUp}}}, Err: errors.New("EBUSY")},
		// Blocked by the bridge: its failure is the bridge's, not its own.
		{Step: plan.Step{Phase: plan.PhaseUplink, Actions: []plan.Action{{Op: plan.SetMaster}}}, Err: errors.New("waiting for Bridge"), Blocked: plan.PhaseBridge},
	}
	reg := prometheus.NewRegistry()
	m := metrics.NewAgent(reg)
	for _, res := range []reconcile.Result{
		{Applied: applied},
		{},
		{Invalid: &desired.InvalidError{Reason: "InvalidSpec", Message: "no such NIC"}},
		{Applied: applied[:1], Steps: bridgeFailed},
		{Err: errors.New("reading the host network: EBUSY")},
		{Checkpoint: &checkpoint.CorruptError{Path: "/x", Err: errors.New("bad checksum")}},
	} {
		count(m, res)
	}
	want := `
# HELP harvnet_reconcile_actions_total Host changes applied, by kind.
# TYPE harvnet_reconcile_actions_total counter
harvnet_reconcile_actions_total{op="CreateBridge"} 2
harvnet_reconcile_actions_total{op="SetMaster"} 2
# HELP harvnet_reconcile_failures_total Passes that failed, by the phase that failed (plan phases; Observe: the host could not be read; Checkpoint: the state file is corrupt).
# TYPE harvnet_reconcile_failures_total counter
harvnet_reconcile_failures_total{phase="Bridge"} 1
harvnet_reconcile_failures_total{phase="Checkpoint"} 1
harvnet_reconcile_failures_total{phase="Observe"} 1
# HELP harvnet_reconcile_passes_total Reconcile passes by outcome: converged, failed (retried with backoff) or invalid (input rejected, host left as it is).
# TYPE harvnet_reconcile_passes_total counter
harvnet_reconcile_passes_total{outcome="converged"} 2
harvnet_reconcile_passes_total{outcome="failed"} 3
harvnet_reconcile_passes_total{outcome="invalid"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"harvnet_reconcile_actions_total", "harvnet_reconcile_failures_total", "harvnet_reconcile_passes_total"); err != nil {
		t.Fatal(err)
	}
}
