// Package framework runs harvnet for real on one machine, for the e2e tests
// and the demo: a kube-apiserver and etcd on 127.0.0.1, "nodes" that are
// network namespaces with veth NICs wired to a shared switch namespace, one
// harvnet-agent process inside each node namespace, and the controller.
//
// An agent reaches the API server exactly as on a real node, at
// https://127.0.0.1:6443 in its own namespace: a relay listening there (a
// socket opened inside the namespace) forwards to the host's API server on
// loopback, so all traffic stays on 127.0.0.1 and the agent needs no
// test-only flags.
package framework
