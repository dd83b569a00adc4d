// Package controller is harvnet-controller: it rolls the ClusterNetwork
// "vlan" out to the harvnet Node objects of the selected core Nodes in
// waves of at most maxUnavailable nodes (rollout.go decides, purely; the
// handlers in controller.go gather the caches and carry the decision out),
// halts on a node that rolled back, keeps an object through its core
// Node's absence for a grace period, and switches nothing off while the
// ClusterNetwork is missing.
package controller
