package status

import (
	"net/netip"
	"testing"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

func TestLinkState(t *testing.T) {
	tests := []struct {
		name string
		l    hoststate.Link
		want v1alpha1.LinkState
	}{
		{"admin down", hoststate.Link{AdminUp: false, OperState: "up", Carrier: true}, v1alpha1.LinkDown},
		{"admin down unknown", hoststate.Link{AdminUp: false, OperState: "unknown", Carrier: true}, v1alpha1.LinkDown},
		{"up", hoststate.Link{AdminUp: true, OperState: "up", Carrier: true}, v1alpha1.LinkUp},
		{"up without carrier flag", hoststate.Link{AdminUp: true, OperState: "up"}, v1alpha1.LinkUp},
		{"lower layer down", hoststate.Link{AdminUp: true, OperState: "lower-layer-down"}, v1alpha1.LinkLowerLayerDown},
		{"dormant", hoststate.Link{AdminUp: true, OperState: "dormant"}, v1alpha1.LinkDormant},
		{"no cable", hoststate.Link{AdminUp: true, OperState: "down"}, v1alpha1.LinkDown},
		{"down with stale carrier", hoststate.Link{AdminUp: true, OperState: "down", Carrier: true}, v1alpha1.LinkDown},
		{"unknown with carrier", hoststate.Link{AdminUp: true, OperState: "unknown", Carrier: true}, v1alpha1.LinkUp},
		{"unknown without carrier", hoststate.Link{AdminUp: true, OperState: "unknown"}, v1alpha1.LinkUnknown},
		{"not present", hoststate.Link{AdminUp: true, OperState: "not-present"}, v1alpha1.LinkUnknown},
		{"empty operstate with carrier", hoststate.Link{AdminUp: true, Carrier: true}, v1alpha1.LinkUp},
	}
	for _, tt := range tests {
		if got := LinkState(tt.l); got != tt.want {
			t.Errorf("%s: LinkState() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestManagement(t *testing.T) {
	links := []hoststate.Link{
		{Name: "lo", Index: 1, Loopback: true, Addrs: []hoststate.Addr{{Prefix: netip.MustParsePrefix("127.0.0.1/8"), Scope: 254}}},
		{Name: "eth0", Index: 2},
		{Name: "eth1", Index: 3, Addrs: []hoststate.Addr{{Prefix: netip.MustParsePrefix("fe80::1/64"), Scope: 253}}},
		{Name: "eth2", Index: 4, Addrs: []hoststate.Addr{{Prefix: netip.MustParsePrefix("10.2.0.5/24")}}},
		{Name: "eth3", Index: 5, Addrs: []hoststate.Addr{{Prefix: netip.MustParsePrefix("10.3.0.5/24")}}},
	}
	def4 := func(idx, metric, table int) hoststate.Route {
		return hoststate.Route{Gw: netip.MustParseAddr("10.0.0.1"), LinkIndex: idx, Protocol: 4, Table: table, Priority: metric, Family: 2}
	}
	def6 := func(idx, metric int) hoststate.Route {
		return hoststate.Route{Gw: netip.MustParseAddr("fe80::1"), LinkIndex: idx, Protocol: 9, Table: 254, Priority: metric, Family: 10}
	}
	tests := []struct {
		name   string
		routes []hoststate.Route
		want   string // "" for none
	}{
		{"lowest IPv4 metric wins", []hoststate.Route{def4(2, 100, 254), def4(3, 50, 254), def4(4, 200, 254)}, "eth1"},
		{"first of equal metrics", []hoststate.Route{def4(3, 100, 254), def4(2, 100, 254)}, "eth1"},
		{"IPv4 wins over a better IPv6", []hoststate.Route{def6(3, 1), def4(2, 1000, 254)}, "eth0"},
		{"IPv6 alone", []hoststate.Route{def6(3, 1024)}, "eth1"},
		{"table 0 counts", []hoststate.Route{def4(2, 100, 0)}, "eth0"},
		{"other tables do not count", []hoststate.Route{def4(2, 1, 100), def4(3, 100, 254)}, "eth1"},
		{"non-default routes do not count", []hoststate.Route{{Dst: netip.MustParsePrefix("10.0.0.0/8"), LinkIndex: 2, Table: 254, Family: 2}}, "eth2"},
		{"route to an unknown link is ignored", []hoststate.Route{def4(99, 1, 254), def4(3, 100, 254)}, "eth1"},
		{"no default: first link with a global address", nil, "eth2"},
	}
	for _, tt := range tests {
		h := &hoststate.State{Links: links, Routes: tt.routes}
		l, ok := Management(h)
		if got := map[bool]string{true: l.Name}[ok]; got != tt.want {
			t.Errorf("%s: Management() = %q (ok %v), want %q", tt.name, l.Name, ok, tt.want)
		}
	}
	if l, ok := Management(&hoststate.State{Links: links[:2]}); ok {
		t.Errorf("Management() without addresses or routes = %q, want none", l.Name)
	}
}
