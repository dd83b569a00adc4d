// Package reconcile runs one pass of the agent's flow: observe the host,
// compute the desired state, plan, apply, observe again. It owns the little
// memory the flow needs between passes (capabilities the kernel lacks, the
// NICs harvnet enslaved) and nothing about Kubernetes.
package reconcile
