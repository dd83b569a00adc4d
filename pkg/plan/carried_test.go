package plan

import (
	"net/netip"
	"testing"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// deletedBridgeHost is a node whose bridge was deleted under harvnet: eth0
// is no port any more and its addresses and routes went with the bridge.
func deletedBridgeHost() *hoststate.State {
	h := freshHost()
	h.Links[1].Addrs = []hoststate.Addr{addrLL}
	h.Routes = nil
	return h
}

func carriedEth0() map[string]Carried {
	return map[string]Carried{"eth0": {
		Addrs: []hoststate.Addr{addr4, addr6},
		// recorded in the order they were added, with the bridge's index
		Routes: []hoststate.Route{rDef4(3), rStatic(3), rDef6(3)},
	}}
}

func TestCarriedRebuildsDeletedBridge(t *testing.T) {
	p := Compute(Input{
		Desired:  want(desired.State{Uplink: "eth0"}),
		Host:     deletedBridgeHost(),
		Enslaved: []string{"eth0"},
		Carried:  carriedEth0(),
	})
	assertActions(t, "Bridge", step(t, p, PhaseBridge).Actions, []Action{
		{Op: CreateBridge, Link: "br0"},
		{Op: SetVLANFiltering, Link: "br0"},
		{Op: SetUp, Link: "br0"},
	})
	assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, []Action{
		{Op: SetMAC, Link: "br0", MAC: mac0},
		{Op: SetMTU, Link: "br0", MTU: 1500},
		{Op: AddAddr, Link: "br0", Addr: addr4, Owner: "eth0"},
		{Op: AddAddr, Link: "br0", Addr: addr6, Owner: "eth0"},
		{Op: AddRoute, Link: "br0", Route: rStatic(3), Owner: "eth0"},
		{Op: AddRoute, Link: "br0", Route: rDef4(3), Owner: "eth0"},
		{Op: AddRoute, Link: "br0", Route: rDef6(3), Owner: "eth0"},
		{Op: SetMaster, Link: "eth0", Master: "br0"},
	})
}

func TestCarriedSteadyState(t *testing.T) {
	p := Compute(Input{
		Desired:  want(desired.State{Uplink: "eth0", VLANs: []int{10, 20}}),
		Host:     steadyHost(),
		Enslaved: []string{"eth0"},
		Carried:  carriedEth0(),
	})
	if !p.Empty() {
		t.Errorf("steady state with a carried record is not empty: %+v", p)
	}
}

// Carried and observed configuration are merged without duplicates.
func TestCarriedMergesWithObserved(t *testing.T) {
	h := freshHost()
	h.Links[1].Addrs = []hoststate.Addr{addr4, addrLL} // lost its IPv6 address
	h.Routes = []hoststate.Route{rKernel(2), rDef4(2)}
	p := Compute(Input{Desired: want(desired.State{Uplink: "eth0"}), Host: h, Carried: carriedEth0()})
	assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, []Action{
		{Op: SetMAC, Link: "br0", MAC: mac0},
		{Op: SetMTU, Link: "br0", MTU: 1500},
		{Op: AddAddr, Link: "br0", Addr: addr4, Owner: "eth0"},
		{Op: AddAddr, Link: "br0", Addr: addr6, Owner: "eth0"},
		{Op: AddRoute, Link: "br0", Route: rStatic(3), Owner: "eth0"},
		{Op: AddRoute, Link: "br0", Route: rDef4(2), Owner: "eth0"},
		{Op: AddRoute, Link: "br0", Route: rDef6(3), Owner: "eth0"},
		{Op: SetMaster, Link: "eth0", Master: "br0"},
		{Op: DelRoute, Link: "eth0", Route: rDef4(2)},
		{Op: DelAddr, Link: "eth0", Addr: addr4},
	})
}

func TestCarriedTeardownAfterBridgeDeleted(t *testing.T) {
	p := Compute(Input{
		Desired:  want(desired.State{Teardown: true}),
		Host:     deletedBridgeHost(),
		Enslaved: []string{"eth0"},
		Carried:  carriedEth0(),
	})
	assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, []Action{
		{Op: AddAddr, Link: "eth0", Addr: addr4, Owner: "eth0"},
		{Op: AddAddr, Link: "eth0", Addr: addr6, Owner: "eth0"},
		{Op: AddRoute, Link: "eth0", Route: rStatic(3), Owner: "eth0"},
		{Op: AddRoute, Link: "eth0", Route: rDef4(3), Owner: "eth0"},
		{Op: AddRoute, Link: "eth0", Route: rDef6(3), Owner: "eth0"},
	})
	assertActions(t, "Bridge", step(t, p, PhaseBridge).Actions, nil)
}

func TestCarriedSwitchAfterBridgeDeleted(t *testing.T) {
	p := Compute(Input{
		Desired:  want(desired.State{Uplink: "eth1"}),
		Host:     deletedBridgeHost(),
		Enslaved: []string{"eth0"},
		Carried:  carriedEth0(),
	})
	assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, []Action{
		{Op: AddAddr, Link: "eth0", Addr: addr4, Owner: "eth0"},
		{Op: AddAddr, Link: "eth0", Addr: addr6, Owner: "eth0"},
		{Op: AddRoute, Link: "eth0", Route: rStatic(3), Owner: "eth0"},
		{Op: AddRoute, Link: "eth0", Route: rDef4(3), Owner: "eth0"},
		{Op: AddRoute, Link: "eth0", Route: rDef6(3), Owner: "eth0"},
		{Op: SetMAC, Link: "br0", MAC: mac1},
		{Op: SetMTU, Link: "br0", MTU: 9000},
		{Op: SetMaster, Link: "eth1", Master: "br0"},
	})
}

func TestCarriedNothingToGiveBack(t *testing.T) {
	// eth0 is recorded but carries nothing and is not a port: left alone.
	h := freshHost()
	h.Links[1].Addrs = nil
	h.Routes = nil
	p := Compute(Input{
		Desired:  want(desired.State{Teardown: true}),
		Host:     h,
		Enslaved: []string{"eth0"},
		Carried:  map[string]Carried{"eth0": {}},
	})
	if !p.Empty() {
		t.Errorf("plan = %+v, want empty", p)
	}
	// A carried NIC that no longer exists is skipped.
	p = Compute(Input{
		Desired: want(desired.State{Teardown: true}),
		Host:    h,
		Carried: map[string]Carried{"eth7": {Addrs: []hoststate.Addr{addr4}}},
	})
	if !p.Empty() {
		t.Errorf("plan for a vanished NIC = %+v, want empty", p)
	}
}

// An agent died after releasing eth0 but before removing the bridge's
// copies: the bridge keeps a VM port and another address of its own, and
// loses only what was carried for eth0.
func TestCarriedReleaseFinishedAfterACrash(t *testing.T) {
	own := hoststate.Addr{Prefix: netip.MustParsePrefix("172.16.0.1/24")}
	ownRoute := hoststate.Route{Dst: netip.MustParsePrefix("172.16.0.0/16"), Gw: netip.MustParseAddr("172.16.0.254"), LinkIndex: 3, Protocol: 4, Table: 254, Family: 2}
	h := steadyHost()
	h.Links[1].MasterIndex = 0
	h.Links[1].Addrs = []hoststate.Addr{addr4, addr6, addrLL}
	h.Links[2].Addrs = append(h.Links[2].Addrs, own)
	h.Links = append(h.Links, hoststate.Link{Name: "vm1", Index: 9, Type: "veth", MasterIndex: 3, AdminUp: true})
	h.Routes = append(append(mgmtRoutes(2), mgmtRoutes(3)...), ownRoute)
	p := Compute(Input{
		Desired:  want(desired.State{Uplink: ""}),
		Host:     h,
		Enslaved: []string{"eth0"},
		Carried:  carriedEth0(),
	})
	assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, []Action{
		{Op: DelRoute, Link: "br0", Route: rDef6(3)},
		{Op: DelRoute, Link: "br0", Route: rDef4(3)},
		{Op: DelRoute, Link: "br0", Route: rStatic(3)},
		{Op: DelAddr, Link: "br0", Addr: addr4},
		{Op: DelAddr, Link: "br0", Addr: addr6},
	})
}
