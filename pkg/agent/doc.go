// Package agent is the Kubernetes side of harvnet-agent: it feeds the
// agent loop with this node's Node object and the cluster's bridge NADs,
// and writes back status, the teardown finalizer and Events. Host work never
// waits on the API server: status writes run on their own goroutine.
package agent
