package plan

import (
	"golang.org/x/sys/unix"

	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

const (
	mac0 = "52:54:00:00:00:01"
	mac1 = "52:54:00:00:00:02"
)

var (
	addr4  = hoststate.Addr{Prefix: netip.MustParsePrefix("10.0.0.5/24")}
	addr6  = hoststate.Addr{Prefix: netip.MustParsePrefix("2001:db8::5/64")}
	addrLL = hoststate.Addr{Prefix: netip.MustParsePrefix("fe80::5054:ff:fe00:1/64"), Scope: 253}
)

func boolp(b bool) *bool { return &b }
func intp(i int) *int    { return &i }

// mgmtRoutes are the routes of the management interface with that index: a
// kernel-made connected route, a static IPv4 default, an IPv6 default and a
// static route without gateway.
func mgmtRoutes(index int) []hoststate.Route {
	return []hoststate.Route{
		{Dst: netip.MustParsePrefix("10.0.0.0/24"), Src: addr4.Prefix.Addr(), LinkIndex: index, Protocol: unix.RTPROT_KERNEL, Scope: 253, Table: 254, Family: 2},
		{Gw: netip.MustParseAddr("10.0.0.1"), LinkIndex: index, Protocol: 4, Table: 254, Priority: 100, Family: 2},
		{Gw: netip.MustParseAddr("2001:db8::1"), LinkIndex: index, Protocol: 4, Table: 254, Priority: 1024, Family: 10},
		{Dst: netip.MustParsePrefix("192.168.50.0/24"), LinkIndex: index, Protocol: 4, Table: 254, Family: 2},
	}
}

func route(i int, index int) hoststate.Route { return mgmtRoutes(index)[i] }

var (
	rKernel = func(idx int) hoststate.Route { return route(0, idx) }
	rDef4   = func(idx int) hoststate.Route { return route(1, idx) }
	rDef6   = func(idx int) hoststate.Route { return route(2, idx) }
	rStatic = func(idx int) hoststate.Route { return route(3, idx) }
)

func eth0() hoststate.Link {
	return hoststate.Link{
		Name: "eth0", Index: 2, Type: "device", MAC: mac0, MTU: 1500, AdminUp: true,
		OperState: "up", Carrier: true, Addrs: []hoststate.Addr{addr4, addr6, addrLL},
	}
}

// freshHost is a node before harvnet: eth0 holds the node's addresses and routes.
func freshHost() *hoststate.State {
	zero := 0
	return &hoststate.State{
		Links: []hoststate.Link{
			{Name: "lo", Index: 1, Type: "device", Loopback: true, AdminUp: true, MTU: 65536},
			eth0(),
			{Name: "eth1", Index: 4, Type: "device", MAC: mac1, MTU: 9000, AdminUp: true, OperState: "up", Carrier: true},
		},
		Routes:               mgmtRoutes(2),
		BridgeNFCallIPTables: &zero,
		Forward:              []hoststate.Forward{{Backend: "nf_tables", Policy: "ACCEPT"}},
		DHCPBackend:          "ebtables-nft",
	}
}

// steadyHost is the host once harvnet is done: br0 (index 3) has eth0's MAC,
// addresses and routes, eth0 is its port and carries VLANs 10 and 20.
func steadyHost() *hoststate.State {
	h := freshHost()
	e := eth0()
	e.MasterIndex = 3
	e.Addrs = []hoststate.Addr{addrLL}
	br := hoststate.Link{
		Name: "br0", Index: 3, Type: "bridge", MAC: mac0, MTU: 1500, AdminUp: true, OperState: "up", Carrier: true,
		VLANFiltering: boolp(true), Addrs: []hoststate.Addr{addr4, addr6, addrLL},
	}
	h.Links = []hoststate.Link{h.Links[0], e, br, h.Links[2]}
	h.Routes = mgmtRoutes(3)
	h.PortVLANs = map[string][]hoststate.VLAN{
		"eth0": {{VID: 1, PVID: true, Untagged: true}, {VID: 10}, {VID: 20}},
		"br0":  {{VID: 1, PVID: true, Untagged: true}},
	}
	h.DHCPRules = []hoststate.DHCPRule{{NIC: "eth0", MAC: mac0, Dir: hoststate.DirSrc}, {NIC: "eth0", MAC: mac0, Dir: hoststate.DirDst}}
	return h
}

func want(d desired.State) desired.State {
	if d.Bridge == "" {
		d.Bridge = "br0"
	}
	return d
}

func step(t *testing.T, p Plan, phase Phase) Step {
	t.Helper()
	var found []Step
	for _, s := range p {
		if s.Phase == phase {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("plan has %d %s steps, want 1: %+v", len(found), phase, p)
	}
	return found[0]
}

func phases(p Plan) []Phase {
	var out []Phase
	for _, s := range p {
		out = append(out, s.Phase)
	}
	return out
}

func assertActions(t *testing.T, what string, got, want []Action) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	t.Errorf("%s: got %d actions, want %d", what, len(got), len(want))
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w string
		if i < len(got) {
			g = got[i].String()
		}
		if i < len(want) {
			w = want[i].String()
		}
		mark := "  "
		if i >= len(got) || i >= len(want) || !reflect.DeepEqual(got[i], want[i]) {
			mark = "!!"
		}
		t.Errorf("%s %2d: got %-50q want %q", mark, i, g, w)
		if mark == "!!" && i < len(got) && i < len(want) {
			t.Errorf("       got  %#v\n       want %#v", got[i], want[i])
		}
	}
}

func TestComputePhases(t *testing.T) {
	p := Compute(Input{Desired: want(desired.State{Uplink: "eth0"}), Host: freshHost()})
	if got, w := phases(p), []Phase{PhaseBridge, PhaseBond, PhaseUplink, PhaseVLANs, PhaseDHCP, PhaseBridgeNF, PhaseForward}; !slices.Equal(got, w) {
		t.Errorf("phases = %v, want %v", got, w)
	}
	if got := step(t, p, PhaseUplink).Requires; !slices.Equal(got, []Phase{PhaseBridge, PhaseBond}) {
		t.Errorf("Uplink requires %v", got)
	}
	if got := step(t, p, PhaseVLANs).Requires; !slices.Equal(got, []Phase{PhaseBridge, PhaseUplink}) {
		t.Errorf("VLANs requires %v", got)
	}
	if got := step(t, p, PhaseDHCP).Requires; !slices.Equal(got, []Phase{PhaseUplink}) {
		t.Errorf("DHCP requires %v", got)
	}
	td := Compute(Input{Desired: want(desired.State{Teardown: true}), Host: steadyHost()})
	if got, w := phases(td), []Phase{PhaseUplink, PhaseDHCP, PhaseForward, PhaseBridge}; !slices.Equal(got, w) {
		t.Errorf("teardown phases = %v, want %v", got, w)
	}
	if got := td[3].Requires; !slices.Equal(got, []Phase{PhaseUplink}) {
		t.Errorf("teardown bridge step requires %v", got)
	}
}

func TestComputeFreshHost(t *testing.T) {
	p := Compute(Input{Desired: want(desired.State{Uplink: "eth0", VLANs: []int{10, 20}}), Host: freshHost()})
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
		{Op: AddRoute, Link: "br0", Route: rStatic(2), Owner: "eth0"},
		{Op: AddRoute, Link: "br0", Route: rDef4(2), Owner: "eth0"},
		{Op: AddRoute, Link: "br0", Route: rDef6(2), Owner: "eth0"},
		{Op: SetMaster, Link: "eth0", Master: "br0"},
		{Op: DelRoute, Link: "eth0", Route: rDef6(2)},
		{Op: DelRoute, Link: "eth0", Route: rDef4(2)},
		{Op: DelRoute, Link: "eth0", Route: rStatic(2)},
		{Op: DelAddr, Link: "eth0", Addr: addr4},
		{Op: DelAddr, Link: "eth0", Addr: addr6},
	})
	assertActions(t, "VLANs", step(t, p, PhaseVLANs).Actions, []Action{
		{Op: AddVLANs, Link: "eth0", VIDs: []Range{{10, 10}, {20, 20}}},
	})
	assertActions(t, "DHCP", step(t, p, PhaseDHCP).Actions, []Action{
		{Op: AddDHCPRule, Link: "eth0", Rule: hoststate.DHCPRule{NIC: "eth0", MAC: mac0, Dir: hoststate.DirSrc}},
		{Op: AddDHCPRule, Link: "eth0", Rule: hoststate.DHCPRule{NIC: "eth0", MAC: mac0, Dir: hoststate.DirDst}},
	})
	assertActions(t, "BridgeNF", step(t, p, PhaseBridgeNF).Actions, nil)
	assertActions(t, "Forward", step(t, p, PhaseForward).Actions, nil)
	for _, s := range p {
		if s.Skipped != "" || s.Note != "" {
			t.Errorf("%s: Skipped %q, Note %q", s.Phase, s.Skipped, s.Note)
		}
	}
	if p.Empty() {
		t.Error("Empty() = true")
	}
}

func TestComputeFreshHostAdminDownNIC(t *testing.T) {
	h := freshHost()
	h.Links[1].AdminUp = false
	h.Links[1].Addrs = nil
	h.Routes = nil
	p := Compute(Input{Desired: want(desired.State{Uplink: "eth0"}), Host: h})
	assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, []Action{
		{Op: SetMAC, Link: "br0", MAC: mac0},
		{Op: SetMTU, Link: "br0", MTU: 1500},
		{Op: SetMaster, Link: "eth0", Master: "br0"},
		{Op: SetUp, Link: "eth0"},
	})
}

func TestComputeNoUplink(t *testing.T) {
	p := Compute(Input{Desired: want(desired.State{VLANs: []int{10}}), Host: freshHost()})
	assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, nil)
	assertActions(t, "VLANs", step(t, p, PhaseVLANs).Actions, nil)
	assertActions(t, "DHCP", step(t, p, PhaseDHCP).Actions, nil)
	if len(step(t, p, PhaseBridge).Actions) != 3 {
		t.Errorf("Bridge actions = %v", step(t, p, PhaseBridge).Actions)
	}
}

func TestComputeSteadyState(t *testing.T) {
	p := Compute(Input{Desired: want(desired.State{Uplink: "eth0", VLANs: []int{10, 20}}), Host: steadyHost(), Enslaved: []string{"eth0"}})
	if !p.Empty() {
		t.Errorf("steady state plan is not empty: %+v", p)
	}
	for _, s := range p {
		if s.Skipped != "" || s.Note != "" {
			t.Errorf("%s: Skipped %q, Note %q", s.Phase, s.Skipped, s.Note)
		}
	}
}

// A pass that stopped half way (addresses and routes copied to the bridge,
// NIC enslaved, its own copies not yet removed) resumes where it stopped.
func TestComputeResumesHalfDoneEnslave(t *testing.T) {
	h := steadyHost()
	h.Links[1].Addrs = []hoststate.Addr{addr4, addr6, addrLL}
	h.Routes = append(mgmtRoutes(3), rDef4(2), rStatic(2))
	p := Compute(Input{Desired: want(desired.State{Uplink: "eth0", VLANs: []int{10, 20}}), Host: h})
	assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, []Action{
		{Op: DelRoute, Link: "eth0", Route: rDef4(2)},
		{Op: DelRoute, Link: "eth0", Route: rStatic(2)},
		{Op: DelAddr, Link: "eth0", Addr: addr4},
		{Op: DelAddr, Link: "eth0", Addr: addr6},
	})
}

func switchHost() *hoststate.State {
	h := steadyHost()
	h.DHCPRules = nil
	return h
}

func TestComputeSwitchUplink(t *testing.T) {
	p := Compute(Input{Desired: want(desired.State{Uplink: "eth1"}), Host: switchHost(), Enslaved: []string{"eth0"}})
	assertActions(t, "Bridge", step(t, p, PhaseBridge).Actions, nil)
	assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, []Action{
		// eth0 gets the node's addresses and routes back, then leaves the bridge.
		{Op: AddAddr, Link: "eth0", Addr: addr4, Owner: "eth0"},
		{Op: AddAddr, Link: "eth0", Addr: addr6, Owner: "eth0"},
		{Op: AddRoute, Link: "eth0", Route: rStatic(3), Owner: "eth0"},
		{Op: AddRoute, Link: "eth0", Route: rDef4(3), Owner: "eth0"},
		{Op: AddRoute, Link: "eth0", Route: rDef6(3), Owner: "eth0"},
		{Op: SetNoMaster, Link: "eth0"},
		{Op: DelRoute, Link: "br0", Route: rDef6(3)},
		{Op: DelRoute, Link: "br0", Route: rDef4(3)},
		{Op: DelRoute, Link: "br0", Route: rStatic(3)},
		{Op: DelAddr, Link: "br0", Addr: addr4},
		{Op: DelAddr, Link: "br0", Addr: addr6},
		// then eth1 is enslaved.
		{Op: SetMAC, Link: "br0", MAC: mac1},
		{Op: SetMTU, Link: "br0", MTU: 9000},
		{Op: SetMaster, Link: "eth1", Master: "br0"},
	})
	assertActions(t, "DHCP", step(t, p, PhaseDHCP).Actions, []Action{
		{Op: AddDHCPRule, Link: "eth1", Rule: hoststate.DHCPRule{NIC: "eth1", MAC: mac1, Dir: hoststate.DirSrc}},
		{Op: AddDHCPRule, Link: "eth1", Rule: hoststate.DHCPRule{NIC: "eth1", MAC: mac1, Dir: hoststate.DirDst}},
	})
}

func TestComputeReleasedNICAdminDown(t *testing.T) {
	h := switchHost()
	h.Links[1].AdminUp = false
	h.Routes = nil
	h.Links[2].Addrs = nil
	p := Compute(Input{Desired: want(desired.State{Uplink: "eth1"}), Host: h})
	assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, []Action{
		{Op: SetNoMaster, Link: "eth0"},
		{Op: SetUp, Link: "eth0"},
		{Op: SetMAC, Link: "br0", MAC: mac1},
		{Op: SetMTU, Link: "br0", MTU: 9000},
		{Op: SetMaster, Link: "eth1", Master: "br0"},
	})
}

func vmPort(name string, index int) hoststate.Link {
	return hoststate.Link{Name: name, Index: index, Type: "veth", MAC: "fe:54:00:00:00:09", MTU: 1500, AdminUp: true, MasterIndex: 3}
}

func TestComputeTeardown(t *testing.T) {
	release := []Action{
		{Op: AddAddr, Link: "eth0", Addr: addr4, Owner: "eth0"},
		{Op: AddAddr, Link: "eth0", Addr: addr6, Owner: "eth0"},
		{Op: AddRoute, Link: "eth0", Route: rStatic(3), Owner: "eth0"},
		{Op: AddRoute, Link: "eth0", Route: rDef4(3), Owner: "eth0"},
		{Op: AddRoute, Link: "eth0", Route: rDef6(3), Owner: "eth0"},
		{Op: SetNoMaster, Link: "eth0"},
		{Op: DelRoute, Link: "br0", Route: rDef6(3)},
		{Op: DelRoute, Link: "br0", Route: rDef4(3)},
		{Op: DelRoute, Link: "br0", Route: rStatic(3)},
		{Op: DelAddr, Link: "br0", Addr: addr4},
		{Op: DelAddr, Link: "br0", Addr: addr6},
	}
	delDHCP := []Action{
		{Op: DelDHCPRule, Link: "eth0", Rule: hoststate.DHCPRule{NIC: "eth0", MAC: mac0, Dir: hoststate.DirSrc}},
		{Op: DelDHCPRule, Link: "eth0", Rule: hoststate.DHCPRule{NIC: "eth0", MAC: mac0, Dir: hoststate.DirDst}},
	}

	t.Run("VM port keeps the bridge", func(t *testing.T) {
		h := steadyHost()
		h.Links = append(h.Links, vmPort("vm1", 20))
		p := Compute(Input{Desired: want(desired.State{Teardown: true}), Host: h, Enslaved: []string{"eth0"}})
		assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, release)
		assertActions(t, "DHCP", step(t, p, PhaseDHCP).Actions, delDHCP)
		br := step(t, p, PhaseBridge)
		assertActions(t, "Bridge", br.Actions, nil)
		if !strings.Contains(br.Note, "vm1") || !strings.Contains(br.Note, "br0") {
			t.Errorf("Bridge note = %q, want it to name br0 and vm1", br.Note)
		}
		if strings.Contains(br.Note, "eth0") {
			t.Errorf("Bridge note = %q names the released uplink", br.Note)
		}
		for _, a := range step(t, p, PhaseUplink).Actions {
			if a.Link == "vm1" {
				t.Errorf("VM port touched: %v", a)
			}
		}
	})
	t.Run("no other port deletes the bridge last", func(t *testing.T) {
		p := Compute(Input{Desired: want(desired.State{Teardown: true}), Host: steadyHost(), Enslaved: []string{"eth0"}})
		assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, release)
		br := step(t, p, PhaseBridge)
		assertActions(t, "Bridge", br.Actions, []Action{{Op: DeleteLink, Link: "br0"}})
		if br.Note != "" {
			t.Errorf("Bridge note = %q", br.Note)
		}
		last := p[len(p)-1]
		if last.Phase != PhaseBridge || last.Actions[len(last.Actions)-1].Op != DeleteLink {
			t.Errorf("DeleteLink is not the last action: %+v", p)
		}
	})
	t.Run("nothing to tear down", func(t *testing.T) {
		p := Compute(Input{Desired: want(desired.State{Teardown: true}), Host: freshHost()})
		if !p.Empty() {
			t.Errorf("teardown of a fresh host: %+v", p)
		}
	})
	t.Run("a non-bridge br0 is left alone", func(t *testing.T) {
		h := freshHost()
		h.Links = append(h.Links, hoststate.Link{Name: "br0", Index: 3, Type: "dummy", AdminUp: true})
		p := Compute(Input{Desired: want(desired.State{Teardown: true}), Host: h})
		if !p.Empty() {
			t.Errorf("teardown deletes a foreign br0: %+v", p)
		}
	})
}

func TestComputeVethUplink(t *testing.T) {
	h := steadyHost()
	// the uplink was veth "vup" (recorded), eth0 left the bridge earlier.
	h.Links[1].MasterIndex = 0
	h.Links = append(h.Links, vmPort("vm1", 20), hoststate.Link{Name: "vup", Index: 21, Type: "veth", MAC: mac0, MTU: 1500, AdminUp: true, MasterIndex: 3})
	h.Routes = nil
	h.Links[2].Addrs = nil
	h.DHCPRules = nil

	p := Compute(Input{Desired: want(desired.State{Uplink: "eth1"}), Host: h, Enslaved: []string{"vup"}})
	assertActions(t, "Uplink recorded", step(t, p, PhaseUplink).Actions, []Action{
		{Op: SetNoMaster, Link: "vup"},
		{Op: SetMAC, Link: "br0", MAC: mac1},
		{Op: SetMTU, Link: "br0", MTU: 9000},
		{Op: SetMaster, Link: "eth1", Master: "br0"},
	})

	p = Compute(Input{Desired: want(desired.State{Uplink: "eth1"}), Host: h})
	assertActions(t, "Uplink unrecorded", step(t, p, PhaseUplink).Actions, []Action{
		{Op: SetMAC, Link: "br0", MAC: mac1},
		{Op: SetMTU, Link: "br0", MTU: 9000},
		{Op: SetMaster, Link: "eth1", Master: "br0"},
	})

	// A recorded veth that stays the uplink is not released.
	p = Compute(Input{Desired: want(desired.State{Uplink: "vup"}), Host: h, Enslaved: []string{"vup"}})
	assertActions(t, "Uplink kept", step(t, p, PhaseUplink).Actions, nil)
}

func TestVLANStep(t *testing.T) {
	have := []hoststate.VLAN{{VID: 1, PVID: true, Untagged: true}, {VID: 10}, {VID: 11}, {VID: 12}, {VID: 20}}
	tests := []struct {
		name string
		have []hoststate.VLAN
		want []int
		acts []Action
	}{
		{
			name: "add and delete",
			have: have,
			want: []int{10, 11, 12, 13, 30},
			acts: []Action{
				{Op: DelVLANs, Link: "eth0", VIDs: []Range{{20, 20}}},
				{Op: AddVLANs, Link: "eth0", VIDs: []Range{{13, 13}, {30, 30}}},
			},
		},
		{name: "same", have: have, want: []int{10, 11, 12, 20}},
		{
			name: "all removed, VID 1 stays",
			have: have,
			want: []int{},
			acts: []Action{{Op: DelVLANs, Link: "eth0", VIDs: []Range{{10, 12}, {20, 20}}}},
		},
		{
			name: "fresh port gets a trunk as one range",
			have: []hoststate.VLAN{{VID: 1, PVID: true, Untagged: true}},
			want: []int{100, 101, 102, 103, 200, 4094},
			acts: []Action{{Op: AddVLANs, Link: "eth0", VIDs: []Range{{100, 103}, {200, 200}, {4094, 4094}}}},
		},
		{name: "a tagged VID 1 is left alone", have: []hoststate.VLAN{{VID: 1}}, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := steadyHost()
			h.PortVLANs["eth0"] = tt.have
			p := Compute(Input{Desired: want(desired.State{Uplink: "eth0", VLANs: tt.want}), Host: h})
			s := step(t, p, PhaseVLANs)
			assertActions(t, "VLANs", s.Actions, tt.acts)
			if s.Skipped != "" {
				t.Errorf("Skipped = %q", s.Skipped)
			}
		})
	}
}

func TestRanges(t *testing.T) {
	tests := []struct {
		in   []int
		want []Range
		str  string
	}{
		{nil, nil, ""},
		{[]int{7}, []Range{{7, 7}}, "7"},
		{[]int{1, 2, 3, 5, 7, 8}, []Range{{1, 3}, {5, 5}, {7, 8}}, "1-3,5,7-8"},
		{[]int{2, 4, 6}, []Range{{2, 2}, {4, 4}, {6, 6}}, "2,4,6"},
		{[]int{4093, 4094}, []Range{{4093, 4094}}, "4093-4094"},
	}
	for _, tt := range tests {
		got := Ranges(tt.in)
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Ranges(%v) = %v, want %v", tt.in, got, tt.want)
		}
		if s := joinRanges(got); s != tt.str {
			t.Errorf("joinRanges(Ranges(%v)) = %q, want %q", tt.in, s, tt.str)
		}
	}
	a := Action{Op: AddVLANs, Link: "eth0", VIDs: Ranges([]int{1, 2, 3, 5, 7, 8})}
	if got := a.String(); got != "allow VLANs 1-3,5,7-8 on eth0" {
		t.Errorf("String() = %q", got)
	}
}

func TestMissingVLANFiltering(t *testing.T) {
	why := "the kernel has no bridge vlan_filtering"
	m := Missing{CapVLANFiltering: why}

	p := Compute(Input{Desired: want(desired.State{Uplink: "eth0", VLANs: []int{10, 20}}), Host: freshHost(), Missing: m})
	assertActions(t, "Bridge", step(t, p, PhaseBridge).Actions, []Action{
		{Op: CreateBridge, Link: "br0"},
		{Op: SetUp, Link: "br0"},
	})
	s := step(t, p, PhaseVLANs)
	assertActions(t, "VLANs", s.Actions, nil)
	if w := "VLAN IDs [10 20] cannot be allowed on eth0: " + why; s.Skipped != w {
		t.Errorf("VLANs Skipped = %q, want %q", s.Skipped, w)
	}

	// No VLANs wanted: nothing is skipped.
	p = Compute(Input{Desired: want(desired.State{Uplink: "eth0"}), Host: freshHost(), Missing: m})
	if s := step(t, p, PhaseVLANs); s.Skipped != "" || len(s.Actions) != 0 {
		t.Errorf("VLANs step without VLANs: %+v", s)
	}

	// An existing bridge without vlan_filtering is left so, and the step
	// says what it lacks whether or not VLANs are wanted.
	for _, vlans := range [][]int{nil, {10, 20}} {
		h := steadyHost()
		h.Links[2].VLANFiltering = boolp(false)
		p = Compute(Input{Desired: want(desired.State{Uplink: "eth0", VLANs: vlans}), Host: h, Missing: m})
		s := step(t, p, PhaseBridge)
		assertActions(t, "Bridge existing", s.Actions, nil)
		if w := "br0 bridges untagged traffic only, without vlan_filtering: " + why; s.Lacks != w {
			t.Errorf("VLANs %v: Bridge Lacks = %q, want %q", vlans, s.Lacks, w)
		}
	}
	// With the capability there, nothing is lacking.
	if s := step(t, Compute(Input{Desired: want(desired.State{Uplink: "eth0"}), Host: steadyHost()}), PhaseBridge); s.Lacks != "" {
		t.Errorf("Lacks = %q on a kernel with VLAN filtering", s.Lacks)
	}
}

func TestDHCPStep(t *testing.T) {
	src := hoststate.DHCPRule{NIC: "eth0", MAC: mac0, Dir: hoststate.DirSrc}
	dst := hoststate.DHCPRule{NIC: "eth0", MAC: mac0, Dir: hoststate.DirDst}
	stale := hoststate.DHCPRule{NIC: "eth9", MAC: "52:54:00:00:00:99", Dir: hoststate.DirSrc}
	oldMAC := hoststate.DHCPRule{NIC: "eth0", MAC: "52:54:00:00:00:77", Dir: hoststate.DirDst}
	tests := []struct {
		name    string
		rules   []hoststate.DHCPRule
		missing Missing
		d       desired.State
		acts    []Action
		skipped string
	}{
		{name: "both present", rules: []hoststate.DHCPRule{dst, src}, d: desired.State{Uplink: "eth0"}},
		{
			name: "one missing", rules: []hoststate.DHCPRule{src}, d: desired.State{Uplink: "eth0"},
			acts: []Action{{Op: AddDHCPRule, Link: "eth0", Rule: dst}},
		},
		{
			name: "stale rule of another NIC", rules: []hoststate.DHCPRule{stale, src, dst}, d: desired.State{Uplink: "eth0"},
			acts: []Action{{Op: DelDHCPRule, Link: "eth9", Rule: stale}},
		},
		{
			name: "rule with an old MAC is replaced", rules: []hoststate.DHCPRule{src, oldMAC}, d: desired.State{Uplink: "eth0"},
			acts: []Action{{Op: DelDHCPRule, Link: "eth0", Rule: oldMAC}, {Op: AddDHCPRule, Link: "eth0", Rule: dst}},
		},
		{
			name: "no uplink removes rules", rules: []hoststate.DHCPRule{src, dst}, d: desired.State{},
			acts: []Action{{Op: DelDHCPRule, Link: "eth0", Rule: src}, {Op: DelDHCPRule, Link: "eth0", Rule: dst}},
		},
		{
			name: "broute missing", missing: Missing{CapBroute: "no ebtables"}, d: desired.State{Uplink: "eth0"},
			skipped: "DHCP broute rules for eth0 cannot be added: no ebtables",
		},
		{
			name: "broute missing without uplink", missing: Missing{CapBroute: "no ebtables"}, d: desired.State{},
		},
		{
			name: "broute missing leaves stale rules alone", rules: []hoststate.DHCPRule{stale}, missing: Missing{CapBroute: "no ebtables"}, d: desired.State{Uplink: "eth0"},
			skipped: "DHCP broute rules for eth0 cannot be added: no ebtables",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := steadyHost()
			h.DHCPRules = tt.rules
			p := Compute(Input{Desired: want(tt.d), Host: h, Missing: tt.missing})
			s := step(t, p, PhaseDHCP)
			assertActions(t, "DHCP", s.Actions, tt.acts)
			if s.Skipped != tt.skipped {
				t.Errorf("Skipped = %q, want %q", s.Skipped, tt.skipped)
			}
		})
	}
}

func TestBridgeNFStep(t *testing.T) {
	tests := []struct {
		name  string
		value *int
		acts  []Action
		note  string
	}{
		{name: "on", value: intp(1), acts: []Action{{Op: SetBridgeNFCall, Value: 0}}},
		{name: "off", value: intp(0)},
		{name: "not loaded", value: nil, note: "br_netfilter is not loaded, so bridged VM traffic does not pass iptables"},
	}
	for _, tt := range tests {
		h := steadyHost()
		h.BridgeNFCallIPTables = tt.value
		p := Compute(Input{Desired: want(desired.State{Uplink: "eth0", VLANs: []int{10, 20}}), Host: h})
		s := step(t, p, PhaseBridgeNF)
		assertActions(t, tt.name, s.Actions, tt.acts)
		if s.Note != tt.note || s.Skipped != "" {
			t.Errorf("%s: Note = %q, Skipped = %q; want Note %q", tt.name, s.Note, s.Skipped, tt.note)
		}
	}
	if got := (Action{Op: SetBridgeNFCall, Value: 0}).String(); got != "set net.bridge.bridge-nf-call-iptables to 0" {
		t.Errorf("String() = %q", got)
	}
}

func TestForwardStep(t *testing.T) {
	nft := func(policy string, in, out []string) hoststate.Forward {
		return hoststate.Forward{Backend: "nf_tables", Policy: policy, AcceptIn: in, AcceptOut: out}
	}
	legacy := func(policy string, in, out []string) hoststate.Forward {
		return hoststate.Forward{Backend: "legacy", Policy: policy, AcceptIn: in, AcceptOut: out}
	}
	br0 := []string{"br0"}
	del := func(backend string) Action { return Action{Op: DelForwardAccept, Link: "br0", Backend: backend} }
	// harvnet adds no FORWARD rules (forwardStep says why); it removes those
	// an older agent added, whatever the policy, in every backend that has
	// them, while the network is on and on teardown.
	tests := []struct {
		name     string
		teardown bool
		fwd      []hoststate.Forward
		missing  Missing
		acts     []Action
	}{
		{name: "DROP without rules adds none", fwd: []hoststate.Forward{nft("DROP", nil, nil)}},
		{name: "DROP in both adds none", fwd: []hoststate.Forward{nft("DROP", nil, nil), legacy("DROP", nil, nil)}},
		{name: "an older agent's rules go", fwd: []hoststate.Forward{nft("DROP", br0, br0)}, acts: []Action{del("nf_tables")}},
		{name: "half of them go", fwd: []hoststate.Forward{nft("DROP", br0, nil)}, acts: []Action{del("nf_tables")}},
		{name: "under ACCEPT too", fwd: []hoststate.Forward{nft("ACCEPT", nil, br0)}, acts: []Action{del("nf_tables")}},
		{name: "another bridge's rules stay", fwd: []hoststate.Forward{nft("DROP", []string{"br1"}, []string{"br1"})}},
		{name: "ACCEPT", fwd: []hoststate.Forward{nft("ACCEPT", nil, nil)}},
		{name: "not read yet", fwd: nil},
		{name: "each backend with rules", fwd: []hoststate.Forward{nft("DROP", br0, br0), legacy("ACCEPT", nil, nil), {Backend: "x", AcceptIn: br0}}, acts: []Action{del("nf_tables"), del("x")}},
		{name: "iptables missing", fwd: nil, missing: Missing{CapIPTables: "iptables not found"}},
		{name: "teardown with rules", teardown: true, fwd: []hoststate.Forward{nft("DROP", br0, br0)}, acts: []Action{del("nf_tables")}},
		{name: "teardown with half the rules", teardown: true, fwd: []hoststate.Forward{nft("ACCEPT", nil, br0)}, acts: []Action{del("nf_tables")}},
		{name: "teardown without rules", teardown: true, fwd: []hoststate.Forward{nft("DROP", nil, nil)}},
		{name: "teardown in each backend with rules", teardown: true, fwd: []hoststate.Forward{nft("DROP", br0, br0), legacy("ACCEPT", nil, nil), {Backend: "x", AcceptIn: br0}}, acts: []Action{del("nf_tables"), del("x")}},
		{name: "teardown with iptables missing", teardown: true, fwd: nil, missing: Missing{CapIPTables: "iptables not found"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := steadyHost()
			h.Forward = tt.fwd
			d := desired.State{Uplink: "eth0", VLANs: []int{10, 20}}
			if tt.teardown {
				d = desired.State{Teardown: true}
			}
			p := Compute(Input{Desired: want(d), Host: h, Missing: tt.missing})
			s := step(t, p, PhaseForward)
			assertActions(t, "Forward", s.Actions, tt.acts)
			if s.Skipped != "" {
				t.Errorf("Skipped = %q: removing rules needs no skip", s.Skipped)
			}
		})
	}
}

func TestNonBridgeLinkNamedLikeTheBridge(t *testing.T) {
	h := freshHost()
	h.Links = append(h.Links, hoststate.Link{Name: "br0", Index: 3, Type: "dummy", MAC: "aa:bb:cc:dd:ee:ff", MTU: 1500, AdminUp: true})
	p := Compute(Input{Desired: want(desired.State{Uplink: "eth0", VLANs: []int{10}}), Host: h})
	s := step(t, p, PhaseBridge)
	assertActions(t, "Bridge", s.Actions, nil)
	if w := "a dummy link named br0 exists and is not a bridge; rename or delete it"; s.Skipped != w {
		t.Errorf("Bridge Skipped = %q, want %q", s.Skipped, w)
	}
}

// When the bridge cannot be made, nothing may be moved onto the link that
// holds its name: the steps that require the bridge must not act either.
func TestNonBridgeLinkBlocksDependentSteps(t *testing.T) {
	h := freshHost()
	h.Links = append(h.Links, hoststate.Link{Name: "br0", Index: 3, Type: "dummy", MAC: "aa:bb:cc:dd:ee:ff", MTU: 1500, AdminUp: true})
	p := Compute(Input{Desired: want(desired.State{Uplink: "eth0", VLANs: []int{10}}), Host: h})
	for _, ph := range []Phase{PhaseUplink, PhaseVLANs} {
		s := step(t, p, ph)
		if len(s.Actions) > 0 {
			t.Errorf("%s step acts although the bridge step is skipped: %v", ph, s.Actions)
		}
	}
}

func TestActionString(t *testing.T) {
	tests := []struct {
		a    Action
		want string
	}{
		{Action{Op: CreateBridge, Link: "br0"}, "create bridge br0"},
		{Action{Op: SetVLANFiltering, Link: "br0"}, "turn on vlan_filtering on br0"},
		{Action{Op: SetUp, Link: "eth0"}, "set eth0 up"},
		{Action{Op: SetMTU, Link: "br0", MTU: 9000}, "set MTU of br0 to 9000"},
		{Action{Op: SetMAC, Link: "br0", MAC: mac0}, "set MAC of br0 to " + mac0},
		{Action{Op: AddAddr, Link: "br0", Addr: addr4}, "add address 10.0.0.5/24 to br0"},
		{Action{Op: DelAddr, Link: "eth0", Addr: addr6}, "remove address 2001:db8::5/64 from eth0"},
		{Action{Op: AddRoute, Link: "br0", Route: rDef4(2)}, "add route default via 10.0.0.1 dev br0 proto static metric 100"},
		{Action{Op: DelRoute, Link: "eth0", Route: rStatic(2)}, "remove route 192.168.50.0/24 dev eth0 proto static"},
		{Action{Op: SetMaster, Link: "eth0", Master: "br0"}, "enslave eth0 to br0"},
		{Action{Op: SetNoMaster, Link: "eth0"}, "release eth0 from its bridge"},
		{Action{Op: DeleteLink, Link: "br0"}, "delete br0"},
		{Action{Op: DelVLANs, Link: "eth0", VIDs: []Range{{20, 20}}}, "remove VLANs 20 on eth0"},
		{Action{Op: AddDHCPRule, Rule: hoststate.DHCPRule{NIC: "eth0", MAC: mac0, Dir: hoststate.DirSrc}}, "add DHCP broute rule for eth0 (src MAC " + mac0 + ")"},
		{Action{Op: DelDHCPRule, Rule: hoststate.DHCPRule{NIC: "eth9", MAC: mac1, Dir: hoststate.DirDst}}, "remove DHCP broute rule for eth9 (dst MAC " + mac1 + ")"},
		{Action{Op: DelForwardAccept, Link: "br0", Backend: "nf_tables"}, "remove an older agent's forward accept rules of br0 (iptables nf_tables)"},
		{Action{Op: "Frobnicate", Link: "x"}, "Frobnicate x"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%s: String() = %q, want %q", tt.a.Op, got, tt.want)
		}
	}
}

func TestPlanEmpty(t *testing.T) {
	tests := []struct {
		p    Plan
		want bool
	}{
		{nil, true},
		{Plan{{Phase: PhaseBridge}, {Phase: PhaseVLANs, Skipped: "x", Note: "y"}}, true},
		{Plan{{Phase: PhaseBridge}, {Phase: PhaseVLANs, Actions: []Action{{Op: AddVLANs}}}}, false},
	}
	for i, tt := range tests {
		if got := tt.p.Empty(); got != tt.want {
			t.Errorf("%d: Empty() = %v, want %v", i, got, tt.want)
		}
	}
}

// Physical NICs and bonds are uplinks even when harvnet has no record of
// enslaving them (a lost state file); veths are only with a record.
func TestReleasableWithoutRecord(t *testing.T) {
	h := steadyHost()
	h.Routes = nil
	h.Links[2].Addrs = nil
	h.Links = append(h.Links,
		hoststate.Link{Name: "bond0", Index: 8, Type: "bond", MTU: 1500, AdminUp: true, MasterIndex: 3},
		vmPort("vm1", 20),
	)
	p := Compute(Input{Desired: want(desired.State{Teardown: true}), Host: h})
	assertActions(t, "Uplink", step(t, p, PhaseUplink).Actions, []Action{
		{Op: SetNoMaster, Link: "bond0"},
		{Op: SetNoMaster, Link: "eth0"},
	})
	br := step(t, p, PhaseBridge)
	if len(br.Actions) != 0 || br.Note != "bridge br0 is kept because other interfaces are still attached to it (VMs?): vm1" {
		t.Errorf("Bridge step = %+v", br)
	}
}
