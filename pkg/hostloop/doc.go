// Package hostloop runs the node agent's event loop: it feeds the latest
// desired input, debounced netlink changes and a periodic netfilter check
// into the reconciler, one pass at a time, and hands every result to a
// status sink. It knows nothing of Kubernetes; the daemon wires that in.
package hostloop
