package probe

import (
	"context"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

func TestCandidates(t *testing.T) {
	gw4 := hoststate.Route{Gw: netip.MustParseAddr("10.11.0.1"), Table: unix.RT_TABLE_MAIN, Family: unix.AF_INET}
	gw6 := hoststate.Route{Gw: netip.MustParseAddr("fd00:11::1"), Table: unix.RT_TABLE_MAIN, Family: unix.AF_INET6}
	other := hoststate.Route{Dst: netip.MustParsePrefix("10.99.0.0/16"), Gw: netip.MustParseAddr("10.11.0.254"), Family: unix.AF_INET}
	inTable := hoststate.Route{Gw: netip.MustParseAddr("10.12.0.1"), Table: 100, Family: unix.AF_INET}
	explicitDefault := hoststate.Route{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gw: netip.MustParseAddr("10.11.0.2"), Family: unix.AF_INET}
	cases := []struct {
		name    string
		routes  []hoststate.Route
		targets []string
		api     bool
		want    []Probe
		bad     int
	}{
		{name: "nothing"},
		{"two families' gateways, API", []hoststate.Route{gw4, gw6, other, inTable}, nil, true, []Probe{
			{ARP, "10.11.0.1", true}, {ICMP, "10.11.0.1", true},
			{NDP, "fd00:11::1", true}, {ICMP, "fd00:11::1", true}, {Kind: API},
		}, 0},
		{"a gateway twice (two metrics) is probed once", []hoststate.Route{gw4, func() hoststate.Route { r := gw4; r.Priority = 100; return r }()}, nil, false, []Probe{
			{ARP, "10.11.0.1", true}, {ICMP, "10.11.0.1", true},
		}, 0},
		{"0.0.0.0/0 is a default route", []hoststate.Route{explicitDefault}, nil, false, []Probe{
			{ARP, "10.11.0.2", true}, {ICMP, "10.11.0.2", true},
		}, 0},
		{"targets", nil, []string{"10.0.0.53", "10.0.0.9:3260", "[fd00::9]:80", " fd00::53 ", "dns.example", "10.0.0.1:0", "fe80::1%eth0"}, false, []Probe{
			{Kind: ICMP, Target: "10.0.0.53"}, {Kind: TCP, Target: "10.0.0.9:3260"}, {Kind: TCP, Target: "[fd00::9]:80"}, {Kind: ICMP, Target: "fd00::53"},
		}, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, bad := Candidates(&hoststate.State{Routes: c.routes}, c.targets, c.api)
			if !reflect.DeepEqual(got, c.want) || len(bad) != c.bad {
				t.Errorf("Candidates() = %v, bad %q\nwant %v and %d bad", got, bad, c.want, c.bad)
			}
		})
	}
}

func TestNames(t *testing.T) {
	for p, want := range map[Probe]string{
		{ARP, "10.0.0.1", true}:              "gateway 10.0.0.1 (arp)",
		{Kind: TCP, Target: "10.0.0.9:3260"}: "target 10.0.0.9:3260 (tcp)",
		{Kind: API}:                          "API server",
	} {
		if got := p.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", p, got, want)
		}
	}
}

type fakeProber map[Probe]error

func (f fakeProber) Probe(_ context.Context, p Probe) error { return f[p] }

func TestRunAllAndPassed(t *testing.T) {
	a, b, c := Probe{Kind: API}, Probe{ICMP, "10.0.0.1", true}, Probe{Kind: TCP, Target: "10.0.0.2:22"}
	res := RunAll(context.Background(), fakeProber{b: errors.New("down")}, []Probe{a, b, c})
	if len(res) != 3 || res[a] != nil || res[b] == nil || res[c] != nil {
		t.Fatalf("RunAll() = %v", res)
	}
	if got := Passed([]Probe{a, b, c, {Kind: ICMP, Target: "10.9.9.9"}}, res); !reflect.DeepEqual(got, []Probe{a, c}) {
		t.Errorf("Passed() = %v, want the API and TCP probes (not the failed one, not one never run)", got)
	}
}
