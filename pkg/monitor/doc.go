// Package monitor turns the kernel's netlink link, address and route events
// into a "look again" signal for the interfaces harvnet manages, so drift is
// repaired in milliseconds without polling, while VM veth churn costs
// nothing: of each event it decodes only the few fields its filter and
// Take need (parse.go), on one socket read by its own goroutine (socket.go).
package monitor
