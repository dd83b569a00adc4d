package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Pass outcomes, the values of harvnet_reconcile_passes_total's label.
const (
	OutcomeConverged = "converged" // the host is as the input asks, or as near as the kernel allows
	OutcomeFailed    = "failed"    // an action failed, the host was unreadable or the state file corrupt: retried
	OutcomeInvalid   = "invalid"   // the input was rejected; the host was left as it is
)

// Agent is harvnet-agent's metrics.
type Agent struct {
	Passes       *prometheus.CounterVec // outcome
	PassDuration prometheus.Histogram
	Actions      *prometheus.CounterVec // op (plan.Op)
	Failures     *prometheus.CounterVec // phase

	NetlinkEvents        prometheus.Counter
	NetlinkEventsIgnored prometheus.Counter
	Resubscribes         prometheus.Counter

	StatusWrites      prometheus.Counter
	StatusWriteErrors prometheus.Counter

	Conditions  *prometheus.GaugeVec // condition, status
	Diagnostics *prometheus.GaugeVec // check

	mu     sync.Mutex
	checks map[string]bool // every check SetDiagnostics has seen
}

// NewAgent builds the agent's metrics and registers them on reg (none
// when reg is nil).
func NewAgent(reg prometheus.Registerer) *Agent {
	m := &Agent{
		Passes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harvnet_reconcile_passes_total",
			Help: "Reconcile passes by outcome: converged, failed (retried with backoff) or invalid (input rejected, host left as it is).",
		}, []string{"outcome"}),
		PassDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "harvnet_reconcile_pass_duration_seconds",
			Help: "How long one reconcile pass took: observe, plan, apply and verify.",
			// Passes that change nothing take about a millisecond; one
			// that waits for the xtables lock can take seconds.
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}),
		Actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harvnet_reconcile_actions_total",
			Help: "Host changes applied, by kind.",
		}, []string{"op"}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harvnet_reconcile_failures_total",
			Help: "Passes that failed, by the phase that failed (plan phases; Observe: the host could not be read; Checkpoint: the state file is corrupt).",
		}, []string{"phase"}),
		NetlinkEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harvnet_netlink_events_total",
			Help: "Netlink link, address and route events received.",
		}),
		NetlinkEventsIgnored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harvnet_netlink_events_ignored_total",
			Help: "Netlink events received that concerned links harvnet does not manage (VM ports, other bridges).",
		}),
		Resubscribes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harvnet_netlink_resubscribes_total",
			Help: "Netlink subscriptions made again after one ended (a socket buffer overflow drops it).",
		}),
		StatusWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harvnet_status_writes_total",
			Help: "Node status writes to the API server (only changed status is written).",
		}),
		StatusWriteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "harvnet_status_write_errors_total",
			Help: "Failed attempts to bring the Node object in line with a pass (status or finalizer); each is retried with backoff.",
		}),
		Conditions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "harvnet_node_condition",
			Help: "1 for the status each condition of this node's status has (True, False or Unknown), 0 for the others.",
		}, []string{"condition", "status"}),
		Diagnostics: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "harvnet_diagnostics",
			Help: "Open host network diagnostics in this node's status, by check; 0 once a check seen before has cleared.",
		}, []string{"check"}),
	}
	register(reg, m.Passes, m.PassDuration, m.Actions, m.Failures, m.NetlinkEvents, m.NetlinkEventsIgnored,
		m.Resubscribes, m.StatusWrites, m.StatusWriteErrors, m.Conditions, m.Diagnostics)
	return m
}

// OrAgent returns m, or unregistered metrics when m is nil.
func OrAgent(m *Agent) *Agent {
	if m == nil {
		return NewAgent(nil)
	}
	return m
}

// conditionStatuses are metav1.ConditionStatus's values, spelled here so
// this package needs no Kubernetes import.
var conditionStatuses = []string{"True", "False", "Unknown"}

// SetConditions sets the condition gauges from a status's conditions:
// type -> status. Conditions no longer reported are not touched; a
// status's condition types do not change.
func (m *Agent) SetConditions(conds map[string]string) {
	for typ, st := range conds {
		for _, s := range conditionStatuses {
			v := 0.0
			if s == st {
				v = 1
			}
			m.Conditions.WithLabelValues(typ, s).Set(v)
		}
	}
}

// SetDiagnostics sets the diagnostics gauges to the number of open
// diagnostics per check; a check seen before and now clear reads 0, so an
// alert can tell "cleared" from "never seen".
func (m *Agent) SetDiagnostics(perCheck map[string]int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checks == nil {
		m.checks = map[string]bool{}
	}
	for check := range m.checks {
		if _, open := perCheck[check]; !open {
			m.Diagnostics.WithLabelValues(check).Set(0)
		}
	}
	for check, n := range perCheck {
		m.checks[check] = true
		m.Diagnostics.WithLabelValues(check).Set(float64(n))
	}
}
