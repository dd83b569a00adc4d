package doctor

import (
	"fmt"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// strictRPFilter fires for each up interface with an IPv4 address whose
// effective rp_filter (the larger of all's and its own) is 1, strict,
// while IPv4 policy-routing rules look up tables other than the default
// three: a reply that arrives on another interface than the route back
// would use is then dropped. Loose mode (2) keeps spoofing protection.
func strictRPFilter(in Input) []v1alpha1.Diagnostic {
	tables := policyTables(in.Host.Doctor)
	if len(tables) == 0 {
		return nil
	}
	all, ok := sysctlInt(in, hoststate.RPFilterKey("all"))
	if !ok {
		return nil
	}
	var out []v1alpha1.Diagnostic
	for _, l := range in.Host.Links {
		if l.Loopback || !l.AdminUp || !hasGlobal(l, false) {
			continue
		}
		own, ok := sysctlInt(in, hoststate.RPFilterKey(l.Name))
		if !ok || max(all, own) != 1 {
			continue
		}
		out = append(out, diag(CheckStrictRPFilter, l.Name, v1alpha1.SeverityWarning,
			fmt.Sprintf("%s has strict reverse-path filtering (rp_filter: all=%d, %s=%d) while policy-routing rules use tables %v: replies that come back on another interface than the route to their source are dropped", l.Name, all, l.Name, own, tables),
			"sysctl -w "+sysctlArg("net.ipv4.conf", l.Name, "rp_filter")+"=2"))
	}
	return out
}

// policyTables returns the IPv4 rules' tables beyond local, main and default.
func policyTables(d *hoststate.Doctor) []int {
	if d == nil {
		return nil
	}
	var out []int
	for _, r := range d.Rules {
		switch r.Table {
		case 0, hoststate.TableLocal, hoststate.TableMain, hoststate.TableDefault:
			continue
		}
		if r.Family == unix.AF_INET && !slices.Contains(out, r.Table) {
			out = append(out, r.Table)
		}
	}
	slices.Sort(out)
	return out
}

// ipForward fires when the VLAN bridge exists and the host does not route:
// pod and VM traffic that leaves through the host is dropped. IPv6 counts
// only where the host has a global IPv6 address.
func ipForward(in Input) []v1alpha1.Diagnostic {
	if _, ok := in.bridge(); !ok {
		return nil
	}
	var out []v1alpha1.Diagnostic
	if v, ok := in.sysctl(hoststate.SysctlIPForward); ok && v == "0" {
		out = append(out, diag(CheckIPForward, "ipv4", v1alpha1.SeverityError,
			fmt.Sprintf("net.ipv4.ip_forward is 0 on a node with %s: the host routes no IPv4 pod or VM traffic", in.Bridge),
			"sysctl -w net.ipv4.ip_forward=1"))
	}
	v6 := slices.ContainsFunc(in.Host.Links, func(l hoststate.Link) bool { return !l.Loopback && hasGlobal(l, true) })
	if v, ok := in.sysctl(hoststate.SysctlIPv6Forward); ok && v == "0" && v6 {
		out = append(out, diag(CheckIPForward, "ipv6", v1alpha1.SeverityError,
			fmt.Sprintf("net.ipv6.conf.all.forwarding is 0 on a node with %s and IPv6 addresses: the host routes no IPv6 pod or VM traffic (an interface that takes its address from router advertisements then needs accept_ra=2)", in.Bridge),
			"sysctl -w net.ipv6.conf.all.forwarding=1"))
	}
	return out
}

func sysctlInt(in Input, name string) (int, bool) {
	v, ok := in.sysctl(name)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	return n, err == nil
}

func hasGlobal(l hoststate.Link, v6 bool) bool {
	for _, a := range l.GlobalAddrs() {
		if a.Prefix.Addr().Is6() == v6 {
			return true
		}
	}
	return false
}
