// Package hoststate is the agent's picture of one host's network, as read
// from the kernel: links, addresses, routes, bridge VLANs and netfilter bits.
// It is plain data so that planning and status building can be table-tested
// without a kernel.
package hoststate
