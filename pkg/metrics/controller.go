package metrics

import "github.com/prometheus/client_golang/prometheus"

// Controller is harvnet-controller's metrics.
type Controller struct {
	Reconciles      *prometheus.CounterVec // kind
	ReconcileErrors *prometheus.CounterVec // kind
	Objects         prometheus.Gauge
	CoreNodes       prometheus.Gauge
	NetworkEnabled  prometheus.Gauge
	Leader          prometheus.Gauge
	RolloutNodes    *prometheus.GaugeVec // state: total, updated, changing
	RolloutHalted   prometheus.Gauge
}

// NewController builds the controller's metrics and registers them on reg
// (none when reg is nil).
func NewController(reg prometheus.Registerer) *Controller {
	m := &Controller{
		Reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harvnet_controller_reconciles_total",
			Help: "Handler runs, by the kind of object handled (Node, harvnet Node, ClusterNetwork).",
		}, []string{"kind"}),
		ReconcileErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "harvnet_controller_reconcile_errors_total",
			Help: "Handler runs that returned an error (the object is retried), by kind.",
		}, []string{"kind"}),
		Objects: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "harvnet_controller_node_objects",
			Help: "harvnet Node objects in the leader's cache.",
		}),
		CoreNodes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "harvnet_controller_core_nodes",
			Help: "Core (Kubernetes) Nodes in the leader's cache.",
		}),
		NetworkEnabled: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "harvnet_controller_clusternetwork_enabled",
			Help: "1 while the ClusterNetwork vlan is enabled, else 0.",
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "harvnet_controller_leader",
			Help: "1 while this replica holds the Lease and its controllers run, else 0.",
		}),
		RolloutNodes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "harvnet_controller_rollout_nodes",
			Help: "The ClusterNetwork rollout's nodes: total (core Nodes), updated (as the ClusterNetwork asks), changing (the current wave).",
		}, []string{"state"}),
		RolloutHalted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "harvnet_controller_rollout_halted",
			Help: "1 while a node's rollback halts the rollout, else 0.",
		}),
	}
	for _, s := range []string{"total", "updated", "changing"} {
		m.RolloutNodes.WithLabelValues(s) // listed at 0 from the start
	}
	register(reg, m.Reconciles, m.ReconcileErrors, m.Objects, m.CoreNodes, m.NetworkEnabled, m.Leader, m.RolloutNodes, m.RolloutHalted)
	return m
}

// OrController returns m, or unregistered metrics when m is nil.
func OrController(m *Controller) *Controller {
	if m == nil {
		return NewController(nil)
	}
	return m
}
