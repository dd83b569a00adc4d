package controller

import (
	"k8s.io/apimachinery/pkg/labels"
)

// The kind label of the reconcile counters.
const (
	kindCoreNode       = "core-node"
	kindNode           = "node"
	kindClusterNetwork = "clusternetwork"
)

// observed wraps a handler to count its runs and errors and, after each,
// to refresh the object gauges from the caches: every cache change runs a
// handler, so the gauges follow the caches without a timer.
func observed[T any](c *Controller, kind string, h func(string, T) (T, error)) func(string, T) (T, error) {
	// Shown at 0 from the start, so a scrape lists every kind.
	c.met.Reconciles.WithLabelValues(kind)
	c.met.ReconcileErrors.WithLabelValues(kind)
	return func(name string, obj T) (T, error) {
		out, err := h(name, obj)
		c.met.Reconciles.WithLabelValues(kind).Inc()
		if err != nil {
			c.met.ReconcileErrors.WithLabelValues(kind).Inc()
		}
		c.refreshCounts()
		return out, err
	}
}

// refreshCounts sets the object gauges from the caches (in memory, cheap).
func (c *Controller) refreshCounts() {
	if cores, err := c.coreNodes.Cache().List(labels.Everything()); err == nil {
		c.met.CoreNodes.Set(float64(len(cores)))
	}
	if objs, err := c.nodes.Cache().List(labels.Everything()); err == nil {
		c.met.Objects.Set(float64(len(objs)))
	}
	enabled := 0.0
	if cn := c.vlan(); cn != nil && cn.Spec.Enable {
		enabled = 1
	}
	c.met.NetworkEnabled.Set(enabled)
}
