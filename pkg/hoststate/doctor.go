package hoststate

import (
	"net/netip"
	"slices"
)

// Doctor is what the host network doctor reads beyond State: sysctls,
// policy-routing rules, every FORWARD chain (iptables of both backends and
// native nftables) and VXLAN devices. It is read on the periodic netfilter
// refresh only, never on the netlink-driven hot path. Nil until read.
type Doctor struct {
	// Sysctls holds values by dotted name ("net.ipv4.ip_forward",
	// "net.ipv4.conf.eth0.rp_filter"); a name that could not be read is
	// absent.
	Sysctls map[string]string
	// Rules are the policy-routing rules of both families.
	Rules []Rule
	// ForwardChains are the base chains on the forward hook that can drop
	// traffic, from every source that was readable.
	ForwardChains []ForwardChain
	// VXLANs are the VXLAN devices.
	VXLANs []VXLAN
	// Unreadable says which sources could not be read and why ("nft": ...),
	// so a check that needs one says it was not run rather than passing.
	Unreadable map[string]string
}

// Rule is one `ip rule` entry.
type Rule struct {
	Family   int // unix.AF_INET or AF_INET6
	Priority int
	Table    int
}

// Routing tables every host has rules for by default.
const (
	TableDefault = 253
	TableMain    = 254
	TableLocal   = 255
)

// ForwardChain is one chain that filters forwarded packets.
type ForwardChain struct {
	// Source is "iptables-legacy", "iptables-nft" or "nft".
	Source string
	// Family and Table are nftables' ("inet", "firewalld"); for iptables
	// "ip" and "filter".
	Family, Table, Chain string
	// Drops is set when a packet no rule accepts is dropped: the policy
	// is DROP, or the chain ends in an unconditional drop or reject (as
	// firewalld's does).
	Drops bool
	// Accepts are the rules (followed through jumps) that accept traffic.
	Accepts []Accept
}

// Accept is one accepting rule, by the interfaces it matches.
type Accept struct {
	In, Out string // "" matches any; a trailing "+" or "*" is a prefix
	// Conditional is set when the rule matches on more than interfaces
	// (connection state, addresses, ports): it lets some traffic through,
	// not all.
	Conditional bool
}

// VXLAN is one VXLAN device.
type VXLAN struct {
	Name string
	// Local is the source address of its tunnel, invalid when unset.
	Local netip.Addr
	// Underlay is the index of the device the tunnel is pinned to, 0 for none.
	Underlay int
}

// RPFilterKey is the Sysctls key of an interface's rp_filter; "all" is the
// key of net.ipv4.conf.all.rp_filter.
func RPFilterKey(ifname string) string { return "net.ipv4.conf." + ifname + ".rp_filter" }

// Sysctl names the doctor reads besides each interface's rp_filter.
const (
	SysctlIPForward   = "net.ipv4.ip_forward"
	SysctlIPv6Forward = "net.ipv6.conf.all.forwarding"
)

// HasAddr reports whether the list holds that address, with any length.
func (as Addrs) HasAddr(a netip.Addr) bool {
	return slices.ContainsFunc(as, func(x Addr) bool { return x.Prefix.Addr() == a })
}
