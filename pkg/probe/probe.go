// Package probe checks that a node can still reach what it needs after a
// change to its own addresses or routes: each default gateway (IPv4 by
// ARP, IPv6 by NDP, and ICMP echo), the API server through the agent's own
// client, and the extra targets a ClusterNetwork lists (an IP by ICMP
// echo, IP:port by a TCP connect). Which probes exist for a host is pure
// (Candidates); running them (Runner) is aimed at one network namespace,
// so tests run them inside throwaway ones.
package probe

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// Kind is how a probe checks its target.
type Kind string

const (
	ARP  Kind = "arp"  // an ARP request answered (IPv4 gateways)
	NDP  Kind = "ndp"  // a neighbour solicitation answered (IPv6 gateways)
	ICMP Kind = "icmp" // an ICMP echo answered
	TCP  Kind = "tcp"  // a TCP connection accepted (IP:port targets)
	API  Kind = "apiserver"
)

// Probe is one check. It is plain data, so a pending change can keep the
// probes it must re-run in the agent's state file.
type Probe struct {
	Kind Kind
	// Target is an IP address, IP:port for TCP, empty for the API server.
	Target string
	// Gateway marks a default gateway rather than a listed target.
	Gateway bool
}

// String names the probe for conditions, Events and logs, e.g.
// "gateway 10.0.0.1 (arp)".
func (p Probe) String() string {
	switch {
	case p.Kind == API:
		return "API server"
	case p.Gateway:
		return fmt.Sprintf("gateway %s (%s)", p.Target, p.Kind)
	}
	return fmt.Sprintf("target %s (%s)", p.Target, p.Kind)
}

// Prober runs one probe; nil means it passed. ctx bounds it.
type Prober interface {
	Probe(ctx context.Context, p Probe) error
}

// Candidates are the probes for a host: ARP or NDP and ICMP echo for each
// default gateway of the main table, the API server when api is set, and
// the listed targets. Targets that are neither an IP nor IP:port are
// returned in bad, with why, and not probed.
func Candidates(host *hoststate.State, targets []string, api bool) (probes []Probe, bad []string) {
	seen := map[Probe]bool{}
	add := func(p Probe) {
		if !seen[p] {
			seen[p] = true
			probes = append(probes, p)
		}
	}
	if host != nil {
		for _, r := range host.Routes {
			if !r.Main() || (r.Dst.IsValid() && r.Dst.Bits() != 0) || !r.Gw.IsValid() {
				continue
			}
			gw := r.Gw.String()
			if r.Family == unix.AF_INET6 || r.Gw.Is6() {
				add(Probe{Kind: NDP, Target: gw, Gateway: true})
			} else {
				add(Probe{Kind: ARP, Target: gw, Gateway: true})
			}
			add(Probe{Kind: ICMP, Target: gw, Gateway: true})
		}
	}
	if api {
		add(Probe{Kind: API})
	}
	for _, t := range targets {
		p, err := ParseTarget(t)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		add(p)
	}
	return probes, bad
}

// ParseTarget reads one ClusterNetwork probe target: an IP address (ICMP
// echo) or IP:port ([IPv6]:port), TCP connect.
func ParseTarget(s string) (Probe, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return Probe{Kind: ICMP, Target: a.String()}, nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Port() != 0 && ap.Addr().Zone() == "" {
		return Probe{Kind: TCP, Target: ap.String()}, nil
	}
	return Probe{}, fmt.Errorf("probe target %q is neither an IP address nor IP:port", s)
}

// RunAll runs the probes at once, each bounded by ctx, and returns each
// one's error (nil: passed).
func RunAll(ctx context.Context, pr Prober, probes []Probe) map[Probe]error {
	out := make(map[Probe]error, len(probes))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Go(func() {
			err := pr.Probe(ctx, p)
			mu.Lock()
			out[p] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// Passed is the probes of results that passed, in the order of probes.
func Passed(probes []Probe, results map[Probe]error) []Probe {
	return slices.DeleteFunc(slices.Clone(probes), func(p Probe) bool {
		err, ran := results[p]
		return !ran || err != nil
	})
}
