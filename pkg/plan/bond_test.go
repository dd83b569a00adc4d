package plan

import (
	"slices"
	"strings"
	"testing"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

const mac2 = "52:54:00:00:00:03"

func strs(as []Action) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func assertStrings(t *testing.T, what string, got []Action, want ...string) {
	t.Helper()
	if g := strs(got); !slices.Equal(g, want) {
		t.Errorf("%s:\n got  %s\n want %s", what, strings.Join(g, "\n      "), strings.Join(want, "\n      "))
	}
}

func activeBackup(slaves ...string) *desired.Bond {
	return &desired.Bond{Name: "bo0", Slaves: slaves, Mode: "active-backup", Miimon: 100}
}

func bondState(slaves ...string) desired.State {
	return want(desired.State{Uplink: "bo0", BondName: "bo0", Bond: activeBackup(slaves...)})
}

// bondFreshHost is freshHost plus eth2, a second free NIC.
func bondFreshHost() *hoststate.State {
	h := freshHost()
	h.Links = append(h.Links, hoststate.Link{Name: "eth2", Index: 5, Type: "device", MAC: mac2, MTU: 1500, AdminUp: true, OperState: "up", Carrier: true})
	return h
}

// bondSteadyHost is the host once harvnet built br0 (3) on bond bo0 (6)
// of eth0 (holding the node's addresses before) and eth1: br0 has the
// bond's MAC (eth0's), the addresses and routes.
func bondSteadyHost() *hoststate.State {
	h := steadyHost()
	bond := hoststate.Link{Name: "bo0", Index: 6, Type: "bond", MAC: mac0, MTU: 1500, AdminUp: true, OperState: "up", Carrier: true,
		MasterIndex: 3, Alias: OwnerAlias, Bond: &hoststate.Bond{Mode: "active-backup", Miimon: 100}}
	for i := range h.Links {
		switch h.Links[i].Name {
		case "eth0":
			h.Links[i].MasterIndex = 6
			h.Links[i].Addrs = nil
		case "eth1":
			h.Links[i].MasterIndex = 6
			h.Links[i].MTU = 1500
		}
	}
	h.Links = append(h.Links, bond)
	h.PortVLANs = map[string][]hoststate.VLAN{"bo0": {{VID: 1, PVID: true, Untagged: true}}}
	h.DHCPRules = []hoststate.DHCPRule{{NIC: "bo0", MAC: mac0, Dir: hoststate.DirSrc}, {NIC: "bo0", MAC: mac0, Dir: hoststate.DirDst}}
	return h
}

func TestBondFromFreeNICs(t *testing.T) {
	d := bondState("eth2", "eth1")
	d.MTU = 9000
	p := Compute(Input{Desired: d, Host: bondFreshHost()})
	assertStrings(t, "Bond", step(t, p, PhaseBond).Actions,
		"create bond bo0 (mode active-backup, miimon 100)", "set bo0 up")
	if a := step(t, p, PhaseBond).Actions[0]; a.MAC != mac2 || a.MTU != 9000 {
		t.Errorf("bond MAC %s MTU %d, want the first slave's %s and 9000", a.MAC, a.MTU, mac2)
	}
	assertStrings(t, "Uplink", step(t, p, PhaseUplink).Actions,
		"set MAC of br0 to "+mac2,
		"enslave bo0 to br0",
		"set eth2 down", "enslave eth2 to bo0",
		"set eth1 down", "enslave eth1 to bo0",
		"set MTU of eth2 to 9000", // the bond does not exist yet: its slaves are checked one by one
		"set MTU of br0 to 9000")
	for _, a := range step(t, p, PhaseUplink).Actions {
		if a.Link == "eth0" {
			t.Errorf("the management NIC is touched: %v", a)
		}
	}
}

// TestBondWithManagementNIC: the NIC with the node's addresses joins last,
// and its addresses and routes move as a single uplink's do: copies on the
// bridge first, the NIC's own removed only once it is a slave.
func TestBondWithManagementNIC(t *testing.T) {
	p := Compute(Input{Desired: bondState("eth0", "eth1"), Host: freshHost()})
	if a := step(t, p, PhaseBond).Actions[0]; a.Op != CreateBond || a.MAC != mac0 {
		t.Fatalf("bond step %v, want a bond with eth0's MAC %s", step(t, p, PhaseBond).Actions, mac0)
	}
	assertStrings(t, "Uplink", step(t, p, PhaseUplink).Actions,
		"set MAC of br0 to "+mac0, "set MTU of br0 to 1500",
		"enslave bo0 to br0",
		"set eth1 down", "enslave eth1 to bo0",
		"add address 10.0.0.5/24 to br0", "add address 2001:db8::5/64 to br0",
		"add route 192.168.50.0/24 dev br0 proto static",
		"add route default via 10.0.0.1 dev br0 proto static metric 100",
		"add route default via 2001:db8::1 dev br0 proto static metric 1024",
		"set eth0 down", "enslave eth0 to bo0",
		"remove route default via 2001:db8::1 dev eth0 proto static metric 1024",
		"remove route default via 10.0.0.1 dev eth0 proto static metric 100",
		"remove route 192.168.50.0/24 dev eth0 proto static",
		"remove address 10.0.0.5/24 from eth0", "remove address 2001:db8::5/64 from eth0")
	for _, a := range step(t, p, PhaseUplink).Actions {
		if a.Op == AddAddr || a.Op == AddRoute {
			if a.Owner != "eth0" {
				t.Errorf("%v: owner %q, want eth0 (the checkpoint records what it carries)", a, a.Owner)
			}
		}
	}
}

func TestBondSteadyState(t *testing.T) {
	p := Compute(Input{Desired: bondState("eth0", "eth1"), Host: bondSteadyHost(), Carried: carriedEth0(), Enslaved: []string{"bo0", "eth0"}})
	if !p.Empty() {
		for _, s := range p {
			assertStrings(t, string(s.Phase), s.Actions)
		}
	}
}

// TestBondSlaveChanges: adding or removing a NIC changes that slave only.
func TestBondSlaveChanges(t *testing.T) {
	h := bondSteadyHost()
	h.Links = append(h.Links, hoststate.Link{Name: "eth2", Index: 7, Type: "device", MAC: mac2, MTU: 1500, AdminUp: true})
	in := Input{Host: h, Carried: carriedEth0(), Enslaved: []string{"bo0", "eth0"}}

	in.Desired = bondState("eth0", "eth1", "eth2")
	p := Compute(in)
	assertStrings(t, "add eth2", step(t, p, PhaseUplink).Actions, "set eth2 down", "enslave eth2 to bo0")
	assertStrings(t, "add eth2: bond", step(t, p, PhaseBond).Actions)

	in.Desired = bondState("eth0")
	p = Compute(in)
	assertStrings(t, "remove eth1", step(t, p, PhaseUplink).Actions, "release eth1 from bo0", "set eth1 up")

	// The management NIC leaves: it gets its addresses back once out of the
	// bond (leaving closes it, which would flush routes put on it before).
	in.Desired = bondState("eth1")
	p = Compute(in)
	assertStrings(t, "remove eth0", step(t, p, PhaseUplink).Actions,
		"release eth0 from bo0", "set eth0 up",
		"add address 10.0.0.5/24 to eth0", "add address 2001:db8::5/64 to eth0",
		"add route 192.168.50.0/24 dev eth0 proto static",
		"add route default via 10.0.0.1 dev eth0 proto static metric 100",
		"add route default via 2001:db8::1 dev eth0 proto static metric 1024",
		"remove route default via 2001:db8::1 dev br0 proto static metric 1024",
		"remove route default via 10.0.0.1 dev br0 proto static metric 100",
		"remove route 192.168.50.0/24 dev br0 proto static",
		"remove address 10.0.0.5/24 from br0", "remove address 2001:db8::5/64 from br0")
}

func TestBondOptionChanges(t *testing.T) {
	in := Input{Host: bondSteadyHost(), Carried: carriedEth0(), Enslaved: []string{"bo0", "eth0"}}
	tests := []struct {
		name string
		b    desired.Bond
		want []string
	}{
		{"miimon live", desired.Bond{Mode: "active-backup", Miimon: 50}, []string{"change miimon of bond bo0 to mode active-backup, miimon 50"}},
		{"mode without slaves", desired.Bond{Mode: "802.3ad", Miimon: 100, LACPRate: "fast", ADSelect: "stable", XmitHashPolicy: "layer2"}, []string{
			"release eth0 from bo0", "release eth1 from bo0",
			"change mode, lacp_rate, ad_select, xmit_hash_policy of bond bo0 to mode 802.3ad, miimon 100, lacp_rate fast, ad_select stable, xmit_hash_policy layer2; the kernel changes the mode only on a down bond without slaves, so its slaves were released and are enslaved again: the uplink is down for a moment",
			"set eth0 down", "enslave eth0 to bo0", "set eth1 down", "enslave eth1 to bo0",
		}},
	}
	for _, tt := range tests {
		b := tt.b
		b.Name, b.Slaves = "bo0", []string{"eth0", "eth1"}
		in.Desired = want(desired.State{Uplink: "bo0", BondName: "bo0", Bond: &b})
		p := Compute(in)
		assertStrings(t, tt.name, step(t, p, PhaseBond).Actions, tt.want...)
		assertStrings(t, tt.name+": uplink", step(t, p, PhaseUplink).Actions)
	}
	// lacp_rate alone: down and up, slaves kept.
	h := bondSteadyHost()
	bl := h.Links[len(h.Links)-1]
	bl.Bond = &hoststate.Bond{Mode: "802.3ad", Miimon: 100, LACPRate: "slow", ADSelect: "stable", XmitHashPolicy: "layer3+4"}
	h.Links[len(h.Links)-1] = bl
	b := desired.Bond{Name: "bo0", Slaves: []string{"eth0", "eth1"}, Mode: "802.3ad", Miimon: 100, LACPRate: "fast", ADSelect: "stable", XmitHashPolicy: "layer3+4"}
	p := Compute(Input{Host: h, Carried: carriedEth0(), Enslaved: []string{"bo0"}, Desired: want(desired.State{Uplink: "bo0", BondName: "bo0", Bond: &b})})
	assertStrings(t, "lacp_rate", step(t, p, PhaseBond).Actions,
		"change lacp_rate of bond bo0 to mode 802.3ad, miimon 100, lacp_rate fast, ad_select stable, xmit_hash_policy layer3+4; the kernel takes lacp_rate and ad_select only on a down bond, so it is down for a moment and the uplink with it")
	if a := step(t, p, PhaseBond).Actions[0]; a.Restart != RestartDown {
		t.Errorf("lacp_rate restart %v", a.Restart)
	}
	b.LACPRate, b.XmitHashPolicy = "slow", "layer2+3"
	p = Compute(Input{Host: h, Carried: carriedEth0(), Enslaved: []string{"bo0"}, Desired: want(desired.State{Uplink: "bo0", BondName: "bo0", Bond: &b})})
	if a := step(t, p, PhaseBond).Actions; len(a) != 1 || a[0].Restart != RestartNone || !slices.Equal(a[0].Changes, []string{"xmit_hash_policy"}) {
		t.Errorf("xmit_hash_policy alone: %v, want one live change", strs(a))
	}
}

// TestBondTeardown: slaves leave one at a time (the management NIC with
// its addresses), then the bond leaves the bridge and is deleted, then the
// bridge goes.
func TestBondTeardown(t *testing.T) {
	in := Input{Desired: want(desired.State{Teardown: true, BondName: "bo0"}), Host: bondSteadyHost(), Carried: carriedEth0(), Enslaved: []string{"bo0", "eth0"}}
	p := Compute(in)
	assertStrings(t, "Uplink", step(t, p, PhaseUplink).Actions,
		"release eth0 from bo0", "set eth0 up",
		"add address 10.0.0.5/24 to eth0", "add address 2001:db8::5/64 to eth0",
		"add route 192.168.50.0/24 dev eth0 proto static",
		"add route default via 10.0.0.1 dev eth0 proto static metric 100",
		"add route default via 2001:db8::1 dev eth0 proto static metric 1024",
		"remove route default via 2001:db8::1 dev br0 proto static metric 1024",
		"remove route default via 10.0.0.1 dev br0 proto static metric 100",
		"remove route 192.168.50.0/24 dev br0 proto static",
		"remove address 10.0.0.5/24 from br0", "remove address 2001:db8::5/64 from br0",
		"release eth1 from bo0", "set eth1 up",
		"release bo0 from br0", "delete bo0")
	assertStrings(t, "Bridge", step(t, p, PhaseBridge).Actions, "delete br0")

	// A pass that died after releasing the bond from the bridge: the bond
	// is still taken apart.
	h := bondSteadyHost()
	for i := range h.Links {
		if h.Links[i].Name == "bo0" {
			h.Links[i].MasterIndex = 0
		}
	}
	in.Host = h
	in.Carried = nil
	p = Compute(in)
	assertStrings(t, "stray bond", step(t, p, PhaseUplink).Actions,
		"release eth0 from bo0", "set eth0 up", "release eth1 from bo0", "set eth1 up", "delete bo0")

	// Someone else's bond of that name (no mark, no record) stays.
	h.Links[len(h.Links)-1].Alias = ""
	in.Enslaved = nil
	p = Compute(in)
	assertStrings(t, "foreign bond", step(t, p, PhaseUplink).Actions)

	// From a bond back to one NIC: the bond is taken apart, then eth1 enslaved.
	in = Input{Desired: want(desired.State{Uplink: "eth1", BondName: "bo0"}), Host: bondSteadyHost(), Enslaved: []string{"bo0"}}
	p = Compute(in)
	got := strs(step(t, p, PhaseUplink).Actions)
	if i, j := slices.Index(got, "delete bo0"), slices.Index(got, "enslave eth1 to br0"); i < 0 || j < i {
		t.Errorf("bond -> eth1: %q, want the bond deleted, then eth1 enslaved", got)
	}
}

func TestBondUnsupportedOrForeign(t *testing.T) {
	p := Compute(Input{Desired: bondState("eth1"), Host: freshHost(), Missing: Missing{CapBonding: "no bonding (CONFIG_BONDING)"}})
	for _, ph := range []Phase{PhaseBond, PhaseUplink, PhaseVLANs, PhaseDHCP} {
		if s := step(t, p, ph); s.Skipped == "" || !strings.Contains(s.Skipped, "CONFIG_BONDING") || len(s.Actions) > 0 {
			t.Errorf("%s: %+v, want skipped naming the missing bonding", ph, s)
		}
	}
	if s := step(t, p, PhaseBridge); s.Skipped != "" || len(s.Actions) == 0 {
		t.Errorf("bridge %+v, want it still built", s)
	}

	h := freshHost()
	h.Links = append(h.Links, hoststate.Link{Name: "bo0", Index: 9, Type: "bond", AdminUp: true})
	p = Compute(Input{Desired: bondState("eth1"), Host: h})
	if s := step(t, p, PhaseBond); !strings.Contains(s.Skipped, "not harvnet's bond") {
		t.Errorf("foreign bo0: %+v", s)
	}
	if s := step(t, p, PhaseUplink); s.Skipped == "" {
		t.Errorf("uplink over a foreign bond: %+v", s)
	}
}

func TestMTU(t *testing.T) {
	h := steadyHost()
	h.Links = append(h.Links, vmPort("vm1", 20))
	d := want(desired.State{Uplink: "eth0", MTU: 9000})
	p := Compute(Input{Desired: d, Host: h, Enslaved: []string{"eth0"}})
	assertStrings(t, "raise", step(t, p, PhaseUplink).Actions, "set MTU of eth0 to 9000", "set MTU of br0 to 9000", "set MTU of vm1 to 9000")

	for i := range h.Links {
		h.Links[i].MTU = 9000
	}
	d.MTU = 1400
	p = Compute(Input{Desired: d, Host: h, Enslaved: []string{"eth0"}})
	assertStrings(t, "lower", step(t, p, PhaseUplink).Actions, "set MTU of br0 to 1400", "set MTU of vm1 to 1400", "set MTU of eth0 to 1400")

	d.MTU = 9000
	p = Compute(Input{Desired: d, Host: h, Enslaved: []string{"eth0"}})
	assertStrings(t, "steady", step(t, p, PhaseUplink).Actions)

	// MTU 0: the bridge follows the NIC, as before.
	d.MTU = 0
	h = steadyHost()
	h.Links[1].MTU = 9000
	p = Compute(Input{Desired: d, Host: h, Enslaved: []string{"eth0"}})
	assertStrings(t, "no MTU", step(t, p, PhaseUplink).Actions, "set MTU of br0 to 9000")

	// A bond: the bond's MTU sets its slaves'.
	bd := bondState("eth0", "eth1")
	bd.MTU = 9000
	p = Compute(Input{Desired: bd, Host: bondSteadyHost(), Carried: carriedEth0(), Enslaved: []string{"bo0"}})
	assertStrings(t, "bond", step(t, p, PhaseUplink).Actions, "set MTU of bo0 to 9000", "set MTU of br0 to 9000")
}

// TestSingleNICToBondAndBack: the management NIC, the single uplink, joins
// a bond with eth1 without its addresses leaving the bridge; going back, it
// leaves the bond straight for the bridge, its addresses staying there.
func TestSingleNICToBondAndBack(t *testing.T) {
	p := Compute(Input{Desired: bondState("eth0", "eth1"), Host: steadyHost(), Carried: carriedEth0(), Enslaved: []string{"eth0"}})
	if a := step(t, p, PhaseBond).Actions; len(a) == 0 || a[0].Op != CreateBond || a[0].MAC != mac0 {
		t.Fatalf("bond step %v, want a bond with eth0's MAC, the bridge's", strs(a))
	}
	assertStrings(t, "to bond", step(t, p, PhaseUplink).Actions,
		"enslave bo0 to br0",
		"set eth1 down", "enslave eth1 to bo0",
		"release eth0 from br0", "set eth0 down", "enslave eth0 to bo0")

	p = Compute(Input{Desired: want(desired.State{Uplink: "eth0", BondName: "bo0"}), Host: bondSteadyHost(), Carried: carriedEth0(), Enslaved: []string{"bo0", "eth0"}})
	assertStrings(t, "back to eth0", step(t, p, PhaseUplink).Actions,
		"release eth0 from bo0", "set eth0 up",
		"release eth1 from bo0", "set eth1 up",
		"release bo0 from br0", "delete bo0",
		"enslave eth0 to br0")
}

// TestReleasedSlaveDownGetsUpFirst: an agent died right after taking the
// management NIC out of the bond, which left it down; the next agent sets
// it up before giving it its routes, which the kernel refuses on a down link.
func TestReleasedSlaveDownGetsUpFirst(t *testing.T) {
	h := bondSteadyHost()
	for i := range h.Links {
		if h.Links[i].Name == "eth0" {
			h.Links[i].MasterIndex, h.Links[i].AdminUp = 0, false
		}
	}
	p := Compute(Input{Desired: want(desired.State{Teardown: true, BondName: "bo0"}), Host: h, Carried: carriedEth0(), Enslaved: []string{"bo0", "eth0"}})
	got := strs(step(t, p, PhaseUplink).Actions)
	up, firstRoute := slices.Index(got, "set eth0 up"), slices.IndexFunc(got, func(s string) bool { return strings.HasPrefix(s, "add route") && strings.Contains(s, "dev eth0") })
	if up < 0 || firstRoute < 0 || up > firstRoute {
		t.Errorf("uplink actions %q: want eth0 set up before its routes are added", got)
	}
}
