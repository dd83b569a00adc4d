package hostloop

import (
	"github.com/harvnet/harvnet/pkg/metrics"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// Failure phases besides plan's, for what fails before any step runs.
const (
	phaseObserve    = "Observe"    // the host could not be read
	phaseCheckpoint = "Checkpoint" // the state file is corrupt
)

// zeroLabels exposes every outcome and failure phase at 0 from the start,
// so a scrape shows the family and rate() sees the first failure.
func zeroLabels(m *metrics.Agent) {
	for _, o := range []string{metrics.OutcomeConverged, metrics.OutcomeFailed, metrics.OutcomeInvalid} {
		m.Passes.WithLabelValues(o)
	}
	for _, ph := range []plan.Phase{phaseObserve, phaseCheckpoint, plan.PhaseBridge, plan.PhaseUplink, plan.PhaseVLANs, plan.PhaseDHCP, plan.PhaseBridgeNF, plan.PhaseForward} {
		m.Failures.WithLabelValues(string(ph))
	}
}

// count records one pass: its outcome, what it applied and, when it
// failed, which phase failed. A phase blocked by another's failure is not
// counted again: the failure is the other phase's.
func count(m *metrics.Agent, res reconcile.Result) {
	for _, a := range res.Applied {
		m.Actions.WithLabelValues(string(a.Op)).Inc()
	}
	switch {
	case res.Invalid != nil:
		m.Passes.WithLabelValues(metrics.OutcomeInvalid).Inc()
		return
	case !res.Failed():
		m.Passes.WithLabelValues(metrics.OutcomeConverged).Inc()
		return
	}
	m.Passes.WithLabelValues(metrics.OutcomeFailed).Inc()
	switch {
	case res.Checkpoint != nil:
		m.Failures.WithLabelValues(phaseCheckpoint).Inc()
	case res.Err != nil:
		m.Failures.WithLabelValues(phaseObserve).Inc()
	}
	for _, s := range res.Steps {
		if s.Err != nil && s.Blocked == "" {
			m.Failures.WithLabelValues(string(s.Phase)).Inc()
		}
	}
}
