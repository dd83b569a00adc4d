// Package hostnet is where harvnet touches the host: it reads the network
// into a hoststate.State and carries out plan.Actions, through netlink,
// sysctl, iptables and ebtables. Every call is aimed at one network
// namespace, so tests (and several agents on one test host) can run it
// against throwaway namespaces without moving the calling thread.
package hostnet
