package hostloop_test

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/harvnet/harvnet/pkg/hostloop"
	"github.com/harvnet/harvnet/pkg/metrics"
)

// The loop counts every pass it runs, and times it, on the metrics its
// Config carries.
func TestLoopCountsPasses(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := metrics.NewAgent(reg)
	h := newHarness(t, hostloop.Config{Metrics: m})
	h.input(1)
	h.next()
	h.host.setFail(errors.New("netlink: EBUSY"))
	h.change()
	h.next()
	if got := testutil.ToFloat64(m.Passes.WithLabelValues(metrics.OutcomeConverged)); got != 1 {
		t.Errorf("converged passes %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.Failures.WithLabelValues("Observe")); got != 1 {
		t.Errorf("Observe failures %v, want 1", got)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "harvnet_reconcile_pass_duration_seconds" {
			if n := mf.GetMetric()[0].GetHistogram().GetSampleCount(); n != 2 {
				t.Fatalf("%d passes timed, want 2", n)
			}
			return
		}
	}
	t.Fatal("no pass duration histogram gathered")
}
