package desired

import (
	"reflect"
	"strings"
	"testing"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

func uplinkSpec(mtu int, bond *v1alpha1.BondOptions, nics ...string) v1alpha1.NodeSpec {
	u := &v1alpha1.UplinkSpec{Bond: bond}
	for _, n := range nics {
		u.NICs = append(u.NICs, v1alpha1.NICRef{Name: n})
	}
	return v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, Uplink: u, MTU: mtu}}
}

func intp(i int) *int { return &i }

// TestBondOptions walks every mode against every option that is valid for
// some mode, set and unset, and checks each result against the rules:
// defaults filled for the options the mode uses, empty for the others,
// and options the mode does not use refused naming the field.
func TestBondOptions(t *testing.T) {
	type opt struct{ field, value string }
	options := []opt{{"", ""}, {"lacpRate", "fast"}, {"lacpRate", "slow"}, {"adSelect", "bandwidth"}, {"adSelect", "count"}, {"xmitHashPolicy", "layer3+4"}, {"xmitHashPolicy", "vlan+srcmac"}}
	for _, mode := range append([]string{""}, bondModes...) {
		for _, o := range options {
			bo := v1alpha1.BondOptions{Mode: v1alpha1.BondMode(mode)}
			switch o.field {
			case "lacpRate":
				bo.LACPRate = o.value
			case "adSelect":
				bo.ADSelect = o.value
			case "xmitHashPolicy":
				bo.XmitHashPolicy = o.value
			}
			name := mode + "/" + o.field + "=" + o.value
			got, err := bondOptions(bo)
			effMode := or(mode, "active-backup")
			valid := o.field == "" ||
				(o.field == "xmitHashPolicy" && UsesHash(effMode)) ||
				(o.field != "xmitHashPolicy" && effMode == "802.3ad")
			if !valid {
				ie, ok := AsInvalid(err)
				if !ok || ie.Reason != ReasonInvalidBond || !strings.Contains(ie.Message, "spec.network.uplink.bond."+o.field) {
					t.Errorf("%s: err %v, want InvalidBond naming spec.network.uplink.bond.%s", name, err, o.field)
				}
				continue
			}
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			want := Bond{Mode: effMode, Miimon: 100}
			if effMode == "802.3ad" {
				want.LACPRate, want.ADSelect = "slow", "stable"
			}
			if UsesHash(effMode) {
				want.XmitHashPolicy = "layer2"
			}
			switch o.field {
			case "lacpRate":
				want.LACPRate = o.value
			case "adSelect":
				want.ADSelect = o.value
			case "xmitHashPolicy":
				want.XmitHashPolicy = o.value
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %+v, want %+v", name, got, want)
			}
		}
	}
}

func TestBondOptionsRefused(t *testing.T) {
	tests := []struct {
		name string
		o    v1alpha1.BondOptions
		want string
	}{
		{"unknown mode", v1alpha1.BondOptions{Mode: "lacp"}, `spec.network.uplink.bond.mode "lacp" is not a bonding mode; use one of balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb`},
		{"mode case", v1alpha1.BondOptions{Mode: "Active-Backup"}, `spec.network.uplink.bond.mode "Active-Backup" is not a bonding mode`},
		{"negative miimon", v1alpha1.BondOptions{Miimon: intp(-1)}, `spec.network.uplink.bond.miimon -1 is outside 0..10000 (milliseconds)`},
		{"miimon too big", v1alpha1.BondOptions{Miimon: intp(10001)}, `spec.network.uplink.bond.miimon 10001 is outside 0..10000`},
		{"bad lacp rate", v1alpha1.BondOptions{Mode: "802.3ad", LACPRate: "1"}, `spec.network.uplink.bond.lacpRate "1" is not one of slow, fast`},
		{"bad ad select", v1alpha1.BondOptions{Mode: "802.3ad", ADSelect: "best"}, `spec.network.uplink.bond.adSelect "best" is not one of stable, bandwidth, count`},
		{"bad hash", v1alpha1.BondOptions{Mode: "balance-xor", XmitHashPolicy: "layer4"}, `spec.network.uplink.bond.xmitHashPolicy "layer4" is not one of layer2, layer2+3, layer3+4, encap2+3, encap3+4, vlan+srcmac`},
		{"lacp in active-backup", v1alpha1.BondOptions{LACPRate: "fast"}, `spec.network.uplink.bond.lacpRate is valid only with mode 802.3ad, not active-backup`},
		{"hash in balance-rr", v1alpha1.BondOptions{Mode: "balance-rr", XmitHashPolicy: "layer2"}, `spec.network.uplink.bond.xmitHashPolicy is valid only with mode 802.3ad, balance-xor, balance-tlb, balance-alb, not balance-rr`},
	}
	for _, tt := range tests {
		_, err := bondOptions(tt.o)
		ie, ok := AsInvalid(err)
		if !ok || ie.Reason != ReasonInvalidBond || !strings.HasPrefix(ie.Message, tt.want) {
			t.Errorf("%s: %v, want InvalidBond %q", tt.name, err, tt.want)
		}
	}
	for _, m := range []int{0, 1, 10000} {
		if b, err := bondOptions(v1alpha1.BondOptions{Miimon: intp(m)}); err != nil || b.Miimon != m {
			t.Errorf("miimon %d: %+v, %v", m, b, err)
		}
	}
}

func TestComputeUplinkAndMTU(t *testing.T) {
	ab := &v1alpha1.BondOptions{}
	tests := []struct {
		name   string
		spec   v1alpha1.NodeSpec
		want   State // Bond compared without slaves (resolved later)
		reason string
	}{
		{name: "one NIC, no bond", spec: uplinkSpec(0, nil, "eth1"), want: State{Bridge: "br0", BondName: "bo0"}},
		{name: "one NIC as a bond", spec: uplinkSpec(0, ab, "eth1"), want: State{Bridge: "br0", BondName: "bo0", Uplink: "bo0", Bond: &Bond{Name: "bo0", Mode: "active-backup", Miimon: 100}}},
		{name: "two NICs bonded, MTU 9000", spec: uplinkSpec(9000, ab, "eth1", "eth2"), want: State{Bridge: "br0", BondName: "bo0", Uplink: "bo0", MTU: 9000, Bond: &Bond{Name: "bo0", Mode: "active-backup", Miimon: 100}}},
		{name: "two NICs without bond", spec: uplinkSpec(0, nil, "eth1", "eth2"), reason: ReasonInvalidBond},
		{name: "nine NICs", spec: uplinkSpec(0, ab, "a", "b", "c", "d", "e", "f", "g", "h", "i"), reason: ReasonInvalidNIC},
		{name: "no NICs", spec: uplinkSpec(0, ab), reason: ReasonInvalidNIC},
		{name: "the bridge as NIC", spec: uplinkSpec(0, ab, "br0"), reason: ReasonInvalidNIC},
		{name: "the bond as NIC", spec: uplinkSpec(0, ab, "bo0"), reason: ReasonInvalidNIC},
		{name: "bad name", spec: uplinkSpec(0, ab, "a/b"), reason: ReasonInvalidNIC},
		{name: "bad option", spec: uplinkSpec(0, &v1alpha1.BondOptions{LACPRate: "fast"}, "eth1"), reason: ReasonInvalidBond},
		{name: "MTU 576", spec: uplinkSpec(576, nil, "eth1"), want: State{Bridge: "br0", BondName: "bo0", MTU: 576}},
		{name: "MTU 575", spec: uplinkSpec(575, nil, "eth1"), reason: ReasonInvalidMTU},
		{name: "MTU 9001", spec: uplinkSpec(9001, nil, "eth1"), reason: ReasonInvalidMTU},
		{name: "MTU -1", spec: uplinkSpec(-1, nil, "eth1"), reason: ReasonInvalidMTU},
		{name: "MTU with spec.network.nic", spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: "vlan", NIC: "eth1", MTU: 1400}}, want: State{Bridge: "br0", BondName: "bo0", Uplink: "eth1", MTU: 1400}},
		{name: "MTU without uplink", spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: "vlan", MTU: 9000}}, want: State{Bridge: "br0", BondName: "bo0", MTU: 9000}},
		{name: "nic and uplink", spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: "vlan", NIC: "eth1", Uplink: &v1alpha1.UplinkSpec{NICs: []v1alpha1.NICRef{{Name: "eth2"}}}}}, reason: ReasonInvalidSpec},
		{name: "nic is the bond", spec: spec("vlan", "bo0"), reason: ReasonInvalidNIC},
		{name: "ref with name and MAC", spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: "vlan", Uplink: &v1alpha1.UplinkSpec{NICs: []v1alpha1.NICRef{{Name: "eth2", MAC: "02:00:00:00:00:01"}}}}}, reason: ReasonInvalidNIC},
		{name: "empty ref", spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: "vlan", Uplink: &v1alpha1.UplinkSpec{NICs: []v1alpha1.NICRef{{}}}}}, reason: ReasonInvalidNIC},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compute(Input{Spec: tt.spec}, testOpts)
			if tt.reason != "" {
				ie, ok := AsInvalid(err)
				if !ok || ie.Reason != tt.reason {
					t.Fatalf("Compute() = %v, want reason %s", err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Bridge != tt.want.Bridge || got.BondName != tt.want.BondName || got.Uplink != tt.want.Uplink || got.MTU != tt.want.MTU || !reflect.DeepEqual(got.Bond, tt.want.Bond) {
				t.Errorf("Compute() = %+v (bond %+v), want %+v (bond %+v)", got, got.Bond, tt.want, tt.want.Bond)
			}
		})
	}
}

func TestDefaultBondName(t *testing.T) {
	for bridge, want := range map[string]string{
		"harvester-br0":   "harvester-bo0",
		"br0":             "bo0",
		"vmnet":           "vmnet-bo",
		"abcdefghijklmno": "abcdefghijkl-bo",
		"mgmt-br":         "mgmt-bo",
	} {
		if got := DefaultBondName(bridge); got != want {
			t.Errorf("DefaultBondName(%q) = %q, want %q", bridge, got, want)
		}
	}
	if got := (Options{BridgeName: "br0", BondName: "bond7"}).Bond(); got != "bond7" {
		t.Errorf("Bond() with --bond-name = %q", got)
	}
	if err := (Options{BridgeName: "br0", BondName: "br0", UplinkTypes: []string{"device"}}).Validate(); err == nil {
		t.Error("Validate accepted a bond named as the bridge")
	}
}

// bondHost has eth1 and eth2 free, eth3 in another bond, eth4 already in
// harvnet's bond bo0, eth5 a port of the bridge.
func bondHost() *hoststate.State {
	return &hoststate.State{Links: []hoststate.Link{
		{Name: "lo", Index: 1, Type: "device", Loopback: true},
		{Name: "eth1", Index: 2, Type: "device", PermanentMAC: "02:00:00:00:00:01"},
		{Name: "eth2", Index: 3, Type: "device", PCIAddress: "0000:03:00.1"},
		{Name: "bond9", Index: 4, Type: "bond"},
		{Name: "eth3", Index: 5, Type: "device", MasterIndex: 4},
		{Name: "bo0", Index: 6, Type: "bond"},
		{Name: "eth4", Index: 7, Type: "device", MasterIndex: 6},
		{Name: "br0", Index: 8, Type: "bridge"},
		{Name: "eth5", Index: 9, Type: "device", MasterIndex: 8},
		{Name: "veth0", Index: 10, Type: "veth"},
	}}
}

func TestResolve(t *testing.T) {
	ab := &v1alpha1.BondOptions{}
	refs := func(r ...v1alpha1.NICRef) v1alpha1.NodeSpec {
		return v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: "vlan", Uplink: &v1alpha1.UplinkSpec{NICs: r, Bond: ab}}}
	}
	tests := []struct {
		name    string
		spec    v1alpha1.NodeSpec
		uplink  string
		slaves  []string
		reason  string
		message string
	}{
		{name: "by MAC and PCI", spec: refs(v1alpha1.NICRef{MAC: "02:00:00:00:00:01"}, v1alpha1.NICRef{PCIAddress: "0000:03:00.1"}), uplink: "bo0", slaves: []string{"eth1", "eth2"}},
		{name: "a slave of our bond and a port of the bridge", spec: uplinkSpec(0, ab, "eth4", "eth5"), uplink: "bo0", slaves: []string{"eth4", "eth5"}},
		{name: "one NIC without bond", spec: uplinkSpec(0, nil, "eth2"), uplink: "eth2"},
		{name: "one NIC without bond, in our bond", spec: uplinkSpec(0, nil, "eth4"), uplink: "eth4"},
		{name: "missing NIC", spec: uplinkSpec(0, ab, "eth1", "eth9"), reason: ReasonNICNotFound},
		{name: "slave of another bond", spec: uplinkSpec(0, ab, "eth1", "eth3"), reason: ReasonNICEnslavedElsewhere, message: `NIC "eth3" cannot be a slave of bond bo0: it is already enslaved to bond9`},
		{name: "a bond as slave", spec: uplinkSpec(0, ab, "eth1", "bond9"), reason: ReasonNICTypeNotAllowed, message: `NIC "bond9" is a bond, which cannot be a slave of bond bo0; name the NICs under it`},
		{name: "veth not allowed", spec: uplinkSpec(0, ab, "veth0"), reason: ReasonNICTypeNotAllowed},
		{name: "loopback", spec: uplinkSpec(0, ab, "lo"), reason: ReasonInvalidNIC},
		{name: "same NIC twice", spec: refs(v1alpha1.NICRef{Name: "eth1"}, v1alpha1.NICRef{MAC: "02:00:00:00:00:01"}), reason: ReasonNICAmbiguous},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := Compute(Input{Spec: tt.spec}, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Resolve(st, bondHost(), testOpts)
			if tt.reason != "" {
				ie, ok := AsInvalid(err)
				if !ok || ie.Reason != tt.reason || tt.message != "" && ie.Message != tt.message {
					t.Fatalf("Resolve() = %v, want %s %q", err, tt.reason, tt.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Uplink != tt.uplink {
				t.Errorf("uplink %q, want %q", got.Uplink, tt.uplink)
			}
			if tt.slaves != nil && (got.Bond == nil || !reflect.DeepEqual(got.Bond.Slaves, tt.slaves)) {
				t.Errorf("bond %+v, want slaves %v", got.Bond, tt.slaves)
			}
			if len(got.NICs) != len(tt.spec.Network.Uplink.NICs) {
				t.Errorf("resolutions %+v, want one per reference", got.NICs)
			}
		})
	}
	// On error the state comes back as far as it got: the resolutions for
	// status, the uplink's name for telling a vanished NIC apart.
	st0, _ := Compute(Input{Spec: uplinkSpec(0, ab, "eth1", "eth9")}, testOpts)
	if got, err := Resolve(st0, bondHost(), testOpts); err == nil || len(got.NICs) != 2 || got.NICs[0].Name != "eth1" || got.NICs[1].Message == "" || got.Bridge != "br0" {
		t.Errorf("Resolve(missing slave) = %+v, %v; want the resolutions and the bridge kept", got, err)
	}
	if got, err := Resolve(State{Bridge: "br0", Uplink: "eth9"}, bondHost(), testOpts); err == nil || got.Uplink != "eth9" || got.Bridge != "br0" {
		t.Errorf("Resolve(missing nic) = %+v, %v; want the uplink's name kept", got, err)
	}
	// Teardown and spec.network.nic pass through as before.
	st := State{Bridge: "br0", Uplink: "eth1"}
	if got, err := Resolve(st, bondHost(), testOpts); err != nil || got.Uplink != "eth1" {
		t.Errorf("Resolve(nic) = %+v, %v", got, err)
	}
}
