package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestSetConditionsOneStatusPerCondition(t *testing.T) {
	m := NewAgent(prometheus.NewRegistry())
	m.SetConditions(map[string]string{"Ready": "True", "UplinkReady": "False"})
	m.SetConditions(map[string]string{"Ready": "False", "UplinkReady": "False"})
	want := `
# HELP harvnet_node_condition 1 for the status each condition of this node's status has (True, False or Unknown), 0 for the others.
# TYPE harvnet_node_condition gauge
harvnet_node_condition{condition="Ready",status="False"} 1
harvnet_node_condition{condition="Ready",status="True"} 0
harvnet_node_condition{condition="Ready",status="Unknown"} 0
harvnet_node_condition{condition="UplinkReady",status="False"} 1
harvnet_node_condition{condition="UplinkReady",status="True"} 0
harvnet_node_condition{condition="UplinkReady",status="Unknown"} 0
`
	if err := testutil.CollectAndCompare(m.Conditions, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

func TestSetDiagnosticsClearedChecksReadZero(t *testing.T) {
	m := NewAgent(prometheus.NewRegistry())
	m.SetDiagnostics(map[string]int{"ip-forward": 1, "mtu": 2})
	m.SetDiagnostics(map[string]int{"mtu": 1})
	want := `
# HELP harvnet_diagnostics Open host network diagnostics in this node's status, by check; 0 once a check seen before has cleared.
# TYPE harvnet_diagnostics gauge
harvnet_diagnostics{check="ip-forward"} 0
harvnet_diagnostics{check="mtu"} 1
`
	if err := testutil.CollectAndCompare(m.Diagnostics, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// Every metric follows Prometheus's naming conventions, as promlint
// checks them (units, _total on counters, help text).
func TestMetricsLint(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewAgent(reg)
	c := NewController(reg)
	// Vectors appear only once a label set is used.
	a.Passes.WithLabelValues(OutcomeConverged)
	a.Actions.WithLabelValues("SetMaster")
	a.Failures.WithLabelValues("Bridge")
	a.SetConditions(map[string]string{"Ready": "True"})
	a.SetDiagnostics(map[string]int{"mtu": 1})
	c.Reconciles.WithLabelValues("node")
	c.ReconcileErrors.WithLabelValues("node")
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n < 17 {
		t.Fatalf("%d metrics gathered (err %v), want every one of both binaries", n, err)
	}
}

// A nil registerer gives working metrics that no registry serves, so two
// components built without one do not collide.
func TestUnregistered(t *testing.T) {
	a, b := OrAgent(nil), OrAgent(nil)
	a.StatusWrites.Inc()
	if testutil.ToFloat64(a.StatusWrites) != 1 || testutil.ToFloat64(b.StatusWrites) != 0 {
		t.Fatal("unregistered metrics are shared")
	}
}
