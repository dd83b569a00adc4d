package hoststate

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/sys/unix"
)

// Route is a route of the main or another table.
type Route struct {
	Dst       netip.Prefix // zero for the default route
	Gw        netip.Addr
	Src       netip.Addr
	LinkIndex int
	Protocol  int // unix.RTPROT_*
	Scope     int // unix.RT_SCOPE_*
	Table     int // unix.RT_TABLE_*; 0 in routes built by hand means main
	Priority  int
	Family    int // unix.AF_INET or unix.AF_INET6
}

// Same reports whether o is the same route, on whichever device: what the
// kernel keys a route by, less the device.
func (r Route) Same(o Route) bool {
	return r.Family == o.Family && r.Dst == o.Dst && r.Gw == o.Gw && r.Table == o.Table && r.Priority == o.Priority
}

// Copyable reports whether the route belongs to the node's configuration
// rather than being derived by the kernel from an address or a router advert (or in the
// local table, which the kernel owns).
func (r Route) Copyable() bool {
	return r.Protocol != unix.RTPROT_KERNEL && r.Protocol != unix.RTPROT_RA && r.Table != unix.RT_TABLE_LOCAL
}

var protoNames = map[int]string{
	unix.RTPROT_REDIRECT: "redirect", unix.RTPROT_KERNEL: "kernel", unix.RTPROT_BOOT: "boot",
	unix.RTPROT_STATIC: "static", unix.RTPROT_RA: "ra", unix.RTPROT_DHCP: "dhcp",
}

var scopeNames = map[int]string{unix.RT_SCOPE_SITE: "site", unix.RT_SCOPE_LINK: "link", unix.RT_SCOPE_HOST: "host"}

// Format renders a route on dev as `ip route` does, e.g.
// "172.16.0.0/16 dev br0 proto kernel scope link src 172.16.1.14": the one
// printer for status, Events and logs. The order of the fields is
// iproute2's (ip/iproute.c print_route: dev, table, proto, scope, src,
// metric); the main table and the boot protocol are left out, as ip does.
func (r Route) Format(dev string) string {
	parts := []string{"default"}
	if r.Dst.IsValid() {
		parts[0] = r.Dst.String()
	}
	if r.Gw.IsValid() {
		parts = append(parts, "via", r.Gw.String())
	}
	parts = append(parts, "dev", dev)
	if r.Table != 0 && r.Table != unix.RT_TABLE_MAIN {
		parts = append(parts, "table", fmt.Sprint(r.Table))
	}
	if r.Protocol != 0 && r.Protocol != unix.RTPROT_BOOT {
		parts = append(parts, "proto", nameOr(protoNames, r.Protocol))
	}
	if r.Scope != 0 {
		parts = append(parts, "scope", nameOr(scopeNames, r.Scope))
	}
	if r.Src.IsValid() {
		parts = append(parts, "src", r.Src.String())
	}
	if r.Priority != 0 {
		parts = append(parts, "metric", fmt.Sprint(r.Priority))
	}
	return strings.Join(parts, " ")
}

// Main reports whether the route is in the main table (0 is how routes
// built by hand say it).
func (r Route) Main() bool { return r.Table == 0 || r.Table == unix.RT_TABLE_MAIN }

func nameOr(names map[int]string, n int) string {
	if s, ok := names[n]; ok {
		return s
	}
	return fmt.Sprint(n)
}
