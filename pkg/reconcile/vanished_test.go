package reconcile

import (
	"net/netip"
	"testing"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

func TestVanishedUplink(t *testing.T) {
	a4 := hoststate.Addr{Prefix: netip.MustParsePrefix("10.0.0.5/24")}
	a6 := hoststate.Addr{Prefix: netip.MustParsePrefix("fd00::5/64")}
	other := hoststate.Addr{Prefix: netip.MustParsePrefix("192.168.9.1/24")}
	def := hoststate.Route{Gw: netip.MustParseAddr("10.0.0.1"), LinkIndex: 3, Protocol: 4, Table: 254, Family: 2}
	carried := map[string]plan.Carried{"eth0": {Addrs: hoststate.Addrs{a4, a6}, Routes: []hoststate.Route{def}}}
	d := desired.State{Bridge: "br0", Uplink: "eth0"}
	host := func(ports ...hoststate.Link) *hoststate.State {
		h := &hoststate.State{Links: []hoststate.Link{
			{Name: "lo", Index: 1, Type: "device", Loopback: true},
			{Name: "br0", Index: 3, Type: "bridge", MAC: "52:54:00:00:00:01", Addrs: hoststate.Addrs{a4, other}},
		}, Routes: []hoststate.Route{def}}
		h.Links = append(h.Links, ports...)
		return h
	}
	renamed := hoststate.Link{Name: "eth9", Index: 7, Type: "device", MAC: "52:54:00:00:00:01", MasterIndex: 3}
	vmPort := hoststate.Link{Name: "vm1", Index: 8, Type: "veth", MAC: "52:54:00:aa:00:01", MasterIndex: 3}

	t.Run("not harvnet's: the plain not-found", func(t *testing.T) {
		if p, ie := vanishedUplink(d, host(), nil); p != nil || ie != nil {
			t.Errorf("got %v, %v", p, ie)
		}
	})
	t.Run("renamed: the port with the bridge's MAC, nothing done", func(t *testing.T) {
		p, ie := vanishedUplink(d, host(vmPort, renamed), carried)
		if ie == nil || ie.Reason != ReasonNICRenamed || p != nil {
			t.Fatalf("got %v, %+v", p, ie)
		}
	})
	t.Run("vanished: only its copies leave the bridge", func(t *testing.T) {
		p, ie := vanishedUplink(d, host(vmPort), carried)
		if ie == nil || ie.Reason != ReasonNICVanished {
			t.Fatalf("got %+v", ie)
		}
		want := []plan.Action{{Op: plan.DelRoute, Link: "br0", Route: def}, {Op: plan.DelAddr, Link: "br0", Addr: a4}}
		if len(p) != 1 || len(p[0].Actions) != len(want) {
			t.Fatalf("plan %+v, want %v", p, want)
		}
		for i, a := range p[0].Actions {
			if a.Op != want[i].Op || a.Link != want[i].Link || a.Addr != want[i].Addr || !a.Route.Same(want[i].Route) {
				t.Errorf("action %d: %v, want %v", i, a, want[i])
			}
		}
	})
	t.Run("vanished with nothing on the bridge", func(t *testing.T) {
		h := host()
		h.Links[1].Addrs, h.Routes = hoststate.Addrs{other}, nil
		p, ie := vanishedUplink(d, h, carried)
		if ie == nil || ie.Reason != ReasonNICVanished || len(p) != 1 || len(p[0].Actions) != 0 {
			t.Fatalf("got %+v, %+v", p, ie)
		}
	})
}
