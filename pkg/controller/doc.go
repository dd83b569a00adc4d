// Package controller is harvnet-controller: while the ClusterNetwork "vlan" is
// enabled, every core Node has a harvnet Node object, created with the
// default NIC once and never rewritten; objects of deleted core Nodes go,
// and their agent finalizer with them, since no agent is left to remove it.
package controller
