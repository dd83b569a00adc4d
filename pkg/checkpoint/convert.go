package checkpoint

import (
	"errors"
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

// fromCarried is the on-disk form of what the planner carries. It refuses
// what it could not read back (an invalid prefix), rather than writing a
// file the next agent would find corrupt.
func fromCarried(m map[string]plan.Carried) (map[string]Uplink, error) {
	out := make(map[string]Uplink, len(m))
	for nic, c := range m {
		var u Uplink
		for _, a := range c.Addrs {
			if !a.Prefix.IsValid() {
				return nil, fmt.Errorf("uplink %q: an address without a valid prefix", nic)
			}
			u.Addrs = append(u.Addrs, Addr{Prefix: a.Prefix.String(), Scope: a.Scope})
		}
		for _, r := range c.Routes {
			u.Routes = append(u.Routes, fromRoute(r))
		}
		out[nic] = u
	}
	return out, nil
}

func fromRoute(r hoststate.Route) Route {
	return Route{
		Family: r.Family, Table: r.Table, Priority: r.Priority, Protocol: r.Protocol, Scope: r.Scope,
		Dst: text(r.Dst), Gw: text(r.Gw), Src: text(r.Src),
	}
}

// text is a prefix or address as the file stores it: "" when unset.
func text[T interface {
	IsValid() bool
	String() string
}](v T) string {
	if !v.IsValid() {
		return ""
	}
	return v.String()
}

// toCarried is what the planner carries, from the on-disk form; an error
// says which value of which uplink is not one harvnet could have written.
func toCarried(m map[string]Uplink) (map[string]plan.Carried, error) {
	out := make(map[string]plan.Carried, len(m))
	for nic, u := range m {
		if nic == "" {
			return nil, errors.New("an uplink without a name")
		}
		var c plan.Carried
		for _, a := range u.Addrs {
			p, err := netip.ParsePrefix(a.Prefix)
			if err != nil {
				return nil, fmt.Errorf("uplink %q: address: %w", nic, err)
			}
			c.Addrs = append(c.Addrs, hoststate.Addr{Prefix: p, Scope: a.Scope})
		}
		for _, r := range u.Routes {
			hr, err := toRoute(r)
			if err != nil {
				return nil, fmt.Errorf("uplink %q: route: %w", nic, err)
			}
			c.Routes = append(c.Routes, hr)
		}
		out[nic] = c
	}
	return out, nil
}

func toRoute(r Route) (hoststate.Route, error) {
	out := hoststate.Route{Family: r.Family, Table: r.Table, Priority: r.Priority, Protocol: r.Protocol, Scope: r.Scope}
	if r.Family != unix.AF_INET && r.Family != unix.AF_INET6 {
		return out, fmt.Errorf("family %d is neither 2 (IPv4) nor 10 (IPv6)", r.Family)
	}
	var err error
	if r.Dst != "" {
		if out.Dst, err = netip.ParsePrefix(r.Dst); err != nil {
			return out, err
		}
	}
	if out.Gw, err = parseAddr(r.Gw); err != nil {
		return out, err
	}
	if out.Src, err = parseAddr(r.Src); err != nil {
		return out, err
	}
	for _, a := range []netip.Addr{out.Dst.Addr(), out.Gw, out.Src} {
		if a.IsValid() && a.Is4() != (r.Family == unix.AF_INET) {
			return out, fmt.Errorf("%s is not of family %d", a, r.Family)
		}
	}
	return out, nil
}

func parseAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	return netip.ParseAddr(s)
}
