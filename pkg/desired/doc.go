// Package desired turns a Node's spec and the cluster's NADs into the host
// network the agent should build, and rejects input that must not touch the
// host. It is pure: no kernel, no API server.
package desired
