package status

import (
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

const (
	mac0 = "52:54:00:00:00:01"
	mac1 = "52:54:00:00:00:02"
)

var opts = desired.Options{BridgeName: "br0", UplinkTypes: []string{"device", "bond"}}

func boolp(b bool) *bool { return &b }

// host is a node where harvnet is done: br0 (index 3) holds the node's
// addresses and routes, eth0 is its port with VLANs 10 and 20; eth1 is
// free, eth2 is enslaved to another bridge, vm1 is a VM's veth on br0.
func host() *hoststate.State {
	zero := 0
	return &hoststate.State{
		Links: []hoststate.Link{
			{Name: "lo", Index: 1, Type: "device", Loopback: true, AdminUp: true, OperState: "unknown", Carrier: true, MTU: 65536},
			{Name: "eth0", Index: 2, Type: "device", MAC: mac0, MTU: 1500, AdminUp: true, OperState: "up", Carrier: true, MasterIndex: 3,
				Addrs: []hoststate.Addr{{Prefix: netip.MustParsePrefix("fe80::5054:ff:fe00:1/64"), Scope: 253}}},
			{Name: "br0", Index: 3, Type: "bridge", MAC: mac0, MTU: 1500, AdminUp: true, OperState: "up", Carrier: true, VLANFiltering: boolp(true),
				Addrs: []hoststate.Addr{
					{Prefix: netip.MustParsePrefix("2001:db8::5/64")},
					{Prefix: netip.MustParsePrefix("10.0.0.5/24")},
					{Prefix: netip.MustParsePrefix("fe80::5054:ff:fe00:1/64"), Scope: 253},
				}},
			{Name: "eth1", Index: 4, Type: "device", MAC: mac1, MTU: 9000, AdminUp: true, OperState: "down",
				PermanentMAC: "52:54:00:aa:bb:cc", PCIAddress: "0000:03:00.1", Driver: "ixgbe", SpeedMbps: 10000, Duplex: "full"},
			{Name: "eth2", Index: 5, Type: "device", MAC: "52:54:00:00:00:03", MTU: 1500, AdminUp: false, OperState: "down", MasterIndex: 6},
			{Name: "otherbr", Index: 6, Type: "bridge", MTU: 1500, AdminUp: true, OperState: "up", VLANFiltering: boolp(false)},
			{Name: "vm1", Index: 7, Type: "veth", MTU: 1500, AdminUp: true, OperState: "up", MasterIndex: 3},
			{Name: "bond0", Index: 8, Type: "bond", MAC: "52:54:00:00:00:08", MTU: 1500, AdminUp: true, OperState: "lower-layer-down"},
		},
		Routes: []hoststate.Route{
			{Dst: netip.MustParsePrefix("10.0.0.0/24"), Src: netip.MustParseAddr("10.0.0.5"), LinkIndex: 3, Protocol: 2, Scope: 253, Table: 254, Family: 2},
			{Gw: netip.MustParseAddr("10.0.0.1"), LinkIndex: 3, Protocol: 4, Table: 254, Priority: 100, Family: 2},
			{Gw: netip.MustParseAddr("2001:db8::1"), LinkIndex: 3, Protocol: 4, Table: 254, Priority: 1024, Family: 10},
			{Dst: netip.MustParsePrefix("192.168.50.0/24"), LinkIndex: 3, Protocol: 4, Table: 254, Family: 2},
		},
		PortVLANs: map[string][]hoststate.VLAN{
			"eth0": {{VID: 1, PVID: true, Untagged: true}, {VID: 20}, {VID: 10}},
			"br0":  {{VID: 1, PVID: true, Untagged: true}},
		},
		BridgeNFCallIPTables: &zero,
		Forward:              []hoststate.Forward{{Backend: "nf_tables", Policy: "ACCEPT"}},
		DHCPRules:            []hoststate.DHCPRule{{NIC: "eth0", MAC: mac0, Dir: hoststate.DirSrc}, {NIC: "eth0", MAC: mac0, Dir: hoststate.DirDst}},
		DHCPBackend:          "ebtables-nft",
	}
}

var steady = desired.State{Bridge: "br0", Uplink: "eth0", VLANs: []int{10, 20}}

// result plans d against h and reports the plan's steps as the pass's outcome.
func result(d desired.State, h *hoststate.State, m plan.Missing) reconcile.Result {
	p := plan.Compute(plan.Input{Desired: d, Host: h, Missing: m, Enslaved: []string{"eth0"}})
	res := reconcile.Result{Desired: d, Host: h, Missing: m}
	for _, s := range p {
		res.Steps = append(res.Steps, reconcile.StepResult{Step: s})
	}
	return res
}

type cond struct {
	Type, Status, Reason, Message string
}

func conds(cs []metav1.Condition) []cond {
	var out []cond
	for _, c := range cs {
		out = append(out, cond{c.Type, string(c.Status), c.Reason, c.Message})
	}
	return out
}

func assertConds(t *testing.T, got []metav1.Condition, want []cond) {
	t.Helper()
	g := conds(got)
	if reflect.DeepEqual(g, want) {
		return
	}
	for i := 0; i < max(len(g), len(want)); i++ {
		var a, b cond
		if i < len(g) {
			a = g[i]
		}
		if i < len(want) {
			b = want[i]
		}
		if a != b {
			t.Errorf("condition %d:\n got  %+v\n want %+v", i, a, b)
		}
	}
}

func findCond(t *testing.T, cs []metav1.Condition, typ string) metav1.Condition {
	t.Helper()
	for _, c := range cs {
		if c.Type == typ {
			return c
		}
	}
	t.Fatalf("no %s condition in %+v", typ, cs)
	return metav1.Condition{}
}

func TestBuildReady(t *testing.T) {
	res := result(steady, host(), nil)
	for _, s := range res.Steps {
		if len(s.Actions) > 0 || s.Skipped != "" {
			t.Fatalf("test host is not steady: %+v", s)
		}
	}
	st := Build(res, opts, 7)
	if st.ObservedGeneration != 7 || st.Bridge != "br0" || st.UplinkStatus != v1alpha1.LinkUp {
		t.Errorf("Build() = generation %d, bridge %q, uplink %q", st.ObservedGeneration, st.Bridge, st.UplinkStatus)
	}
	if !slices.Equal(st.NetworkIDs, []int{10, 20}) {
		t.Errorf("NetworkIDs = %v, want [10 20]", st.NetworkIDs)
	}
	assertConds(t, st.Conditions, []cond{
		{"Ready", "True", "Ready", "host network matches the spec"},
		{"BridgeReady", "True", "Ready", "br0 is up with vlan_filtering on"},
		{"UplinkReady", "True", "Ready", "eth0 is enslaved to br0 and up"},
		{"VLANsReady", "True", "Ready", "VLAN IDs [10 20] are allowed on the uplink"},
		{"DHCPRulesReady", "True", "Ready", "2 DHCP broute rules in place (ebtables-nft)"},
		{"BridgeNetfilterReady", "True", "Ready", "net.bridge.bridge-nf-call-iptables is 0; forwarding through br0 is allowed"},
	})
	for _, c := range st.Conditions {
		if !c.LastTransitionTime.IsZero() {
			t.Errorf("%s has a transition time before SetTransitions", c.Type)
		}
	}

	wantBr := v1alpha1.LinkStatus{
		Index: 3, Type: "bridge", MAC: mac0, MTU: 1500, LinkStatus: v1alpha1.LinkUp, VLANFiltering: boolp(true),
		IPv4Address: []string{"10.0.0.5/24"},
		IPv6Address: []string{"2001:db8::5/64"},
		Routes: []string{
			"10.0.0.0/24 dev br0 proto kernel scope link src 10.0.0.5",
			"192.168.50.0/24 dev br0 proto static",
			"default via 10.0.0.1 dev br0 proto static metric 100",
			"default via 2001:db8::1 dev br0 proto static metric 1024",
		},
	}
	wantEth0 := v1alpha1.LinkStatus{Index: 2, Type: "device", MAC: mac0, MTU: 1500, LinkStatus: v1alpha1.LinkUp, Master: "br0"}
	if len(st.NetworkStatus) != 2 {
		t.Errorf("NetworkStatus has %d links, want br0 and eth0: %v", len(st.NetworkStatus), st.NetworkStatus)
	}
	if got := st.NetworkStatus["br0"]; !reflect.DeepEqual(got, wantBr) {
		t.Errorf("NetworkStatus[br0] =\n %+v\nwant\n %+v", got, wantBr)
	}
	if got := st.NetworkStatus["eth0"]; !reflect.DeepEqual(got, wantEth0) {
		t.Errorf("NetworkStatus[eth0] =\n %+v\nwant\n %+v", got, wantEth0)
	}
	if len(st.NICs) != 4 {
		t.Errorf("NICs = %+v", st.NICs)
	}
}

func TestBuildWithoutHost(t *testing.T) {
	st := Build(reconcile.Result{Err: errors.New("reading the host network: boom")}, opts, 3)
	if st.NICs != nil || st.NetworkStatus != nil || st.NetworkIDs != nil || st.UplinkStatus != "" {
		t.Errorf("Build() without host = %+v", st)
	}
	assertConds(t, st.Conditions, []cond{
		{"Ready", "Unknown", "HostUnreadable", "reading the host network: boom"},
		{"BridgeReady", "Unknown", "HostUnreadable", "reading the host network: boom"},
		{"UplinkReady", "Unknown", "HostUnreadable", "reading the host network: boom"},
		{"VLANsReady", "Unknown", "HostUnreadable", "reading the host network: boom"},
		{"DHCPRulesReady", "Unknown", "HostUnreadable", "reading the host network: boom"},
		{"BridgeNetfilterReady", "Unknown", "HostUnreadable", "reading the host network: boom"},
	})
}

func TestBuildInvalid(t *testing.T) {
	msg := `NIC "eth9" does not exist on this node; pick one from status.nics`
	res := reconcile.Result{Host: host(), Invalid: &desired.InvalidError{Reason: desired.ReasonNICNotFound, Message: msg}}
	st := Build(res, opts, 2)
	assertConds(t, st.Conditions, []cond{
		{"Ready", "False", "NICNotFound", msg + "; the host was left as it is"},
		{"BridgeReady", "Unknown", "SpecInvalid", "not applied: " + msg},
		{"UplinkReady", "False", "NICNotFound", msg},
		{"VLANsReady", "Unknown", "SpecInvalid", "not applied: " + msg},
		{"DHCPRulesReady", "Unknown", "SpecInvalid", "not applied: " + msg},
		{"BridgeNetfilterReady", "Unknown", "SpecInvalid", "not applied: " + msg},
	})
	// The inventory is still reported, so the admin can pick a NIC.
	if len(st.NICs) == 0 {
		t.Error("no NIC inventory with an invalid spec")
	}
}

// A corrupt state file stops the agent from changing anything: every
// condition says so, Ready and UplinkReady False naming the file, what is
// wrong and what the operator can do; the inventory is still reported.
func TestBuildCheckpointCorrupt(t *testing.T) {
	path := "/var/lib/harvnet/uplinks.json"
	bad := &checkpoint.CorruptError{Path: path, Err: errors.New("it is truncated: its 12 bytes end before the JSON does")}
	msg := "state file " + path + " is corrupt: it is truncated: its 12 bytes end before the JSON does; " +
		"the agent changes nothing on this host until it can read it: move it aside (mv " + path + " " + path + ".corrupt) " +
		"so the agent starts again from what the kernel shows, or put back a good copy; the agent reads it again on its next pass"
	want := []cond{
		{"Ready", "False", "CheckpointCorrupt", msg},
		{"BridgeReady", "Unknown", "CheckpointCorrupt", "not reconciled: " + msg},
		{"UplinkReady", "False", "CheckpointCorrupt", msg},
		{"VLANsReady", "Unknown", "CheckpointCorrupt", "not reconciled: " + msg},
		{"DHCPRulesReady", "Unknown", "CheckpointCorrupt", "not reconciled: " + msg},
		{"BridgeNetfilterReady", "Unknown", "CheckpointCorrupt", "not reconciled: " + msg},
	}
	st := Build(reconcile.Result{Host: host(), Checkpoint: bad}, opts, 2)
	assertConds(t, st.Conditions, want)
	if len(st.NICs) == 0 {
		t.Error("no NIC inventory with a corrupt state file")
	}
	// The host unreadable as well: the file is still what to fix first.
	st = Build(reconcile.Result{Checkpoint: bad, Err: errors.New("reading the host network: boom")}, opts, 2)
	assertConds(t, st.Conditions, want)
}

func TestBuildSkippedVLANs(t *testing.T) {
	h := host()
	h.PortVLANs = nil
	why := "the kernel has no bridge vlan_filtering"
	res := result(steady, h, plan.Missing{plan.CapVLANFiltering: why})
	st := Build(res, opts, 1)
	skip := "VLAN IDs [10 20] cannot be allowed on eth0: " + why
	v := findCond(t, st.Conditions, v1alpha1.ConditionVLANsReady)
	if v.Status != metav1.ConditionFalse || v.Reason != ReasonUnsupported || v.Message != skip {
		t.Errorf("VLANsReady = %+v", v)
	}
	r := findCond(t, st.Conditions, v1alpha1.ConditionReady)
	if r.Status != metav1.ConditionFalse || r.Reason != ReasonUnsupported || !strings.Contains(r.Message, skip) {
		t.Errorf("Ready = %+v, want False/Unsupported containing %q", r, skip)
	}
	if r.Message != "VLANsReady: "+skip {
		t.Errorf("Ready message = %q", r.Message)
	}
	if st.NetworkIDs != nil {
		t.Errorf("NetworkIDs = %v, want none", st.NetworkIDs)
	}
}

// TestBuildNoVLANFiltering: on a kernel without bridge VLAN filtering the
// bridge step has nothing left to do, which must not read as "done": the
// bridge is reported up without vlan_filtering and why, whether or not any
// VLAN ID is wanted (right after enabling, no NAD exists yet).
func TestBuildNoVLANFiltering(t *testing.T) {
	why := "the kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)"
	lacks := "br0 bridges untagged traffic only, without vlan_filtering: " + why
	for _, vlans := range [][]int{nil, {10, 20}} {
		h := host()
		h.Links[2].VLANFiltering = boolp(false)
		h.PortVLANs = nil
		d := desired.State{Bridge: "br0", Uplink: "eth0", VLANs: vlans}
		st := Build(result(d, h, plan.Missing{plan.CapVLANFiltering: why}), opts, 1)
		b := findCond(t, st.Conditions, v1alpha1.ConditionBridgeReady)
		if b.Status != metav1.ConditionFalse || b.Reason != ReasonUnsupported || b.Message != lacks {
			t.Errorf("VLANs %v: BridgeReady = %+v, want False/Unsupported %q", vlans, b, lacks)
		}
		r := findCond(t, st.Conditions, v1alpha1.ConditionReady)
		if r.Status != metav1.ConditionFalse || !strings.Contains(r.Message, "BridgeReady: "+lacks) {
			t.Errorf("VLANs %v: Ready = %+v, want False naming the missing vlan_filtering", vlans, r)
		}
		v := findCond(t, st.Conditions, v1alpha1.ConditionVLANsReady)
		switch {
		case vlans == nil && (v.Status != metav1.ConditionTrue || !strings.Contains(v.Message, "no VLAN IDs are wanted")):
			t.Errorf("no VLANs: VLANsReady = %+v, want True saying none are wanted", v)
		case vlans != nil && (v.Status != metav1.ConditionFalse || v.Reason != ReasonUnsupported):
			t.Errorf("VLANs %v: VLANsReady = %+v, want False/Unsupported", vlans, v)
		}
	}
}

func TestBuildStepErrors(t *testing.T) {
	res := result(steady, host(), nil)
	for i := range res.Steps {
		switch res.Steps[i].Phase {
		case plan.PhaseUplink:
			res.Steps[i].Err = errors.New("enslave eth0 to br0: operation not permitted")
			res.Steps[i].Actions = []plan.Action{{Op: plan.SetMaster, Link: "eth0", Master: "br0"}}
		case plan.PhaseVLANs:
			res.Steps[i].Err = errors.New("waiting for Uplink")
			res.Steps[i].Blocked = plan.PhaseUplink
		case plan.PhaseDHCP:
			res.Steps[i].Actions = []plan.Action{{Op: plan.AddDHCPRule, Link: "eth0", Rule: hoststate.DHCPRule{NIC: "eth0", MAC: mac0, Dir: "src"}}}
		}
	}
	st := Build(res, opts, 1)
	assertConds(t, st.Conditions, []cond{
		{"Ready", "False", "ApplyFailed", "UplinkReady: enslave eth0 to br0: operation not permitted; VLANsReady: waiting for Uplink, which failed; DHCPRulesReady: still to do: add DHCP broute rule for eth0 (src MAC " + mac0 + ")"},
		{"BridgeReady", "True", "Ready", "br0 is up with vlan_filtering on"},
		{"UplinkReady", "False", "ApplyFailed", "enslave eth0 to br0: operation not permitted"},
		{"VLANsReady", "False", "Waiting", "waiting for Uplink, which failed"},
		{"DHCPRulesReady", "False", "Pending", "still to do: add DHCP broute rule for eth0 (src MAC " + mac0 + ")"},
		{"BridgeNetfilterReady", "True", "Ready", "net.bridge.bridge-nf-call-iptables is 0; forwarding through br0 is allowed"},
	})
}

func TestBuildNetfilterMerge(t *testing.T) {
	h := host()
	h.BridgeNFCallIPTables = nil
	h.Forward = nil
	// Without iptables there is nothing to do in FORWARD (harvnet only
	// removes older agents' rules), so a failing removal stands for the
	// failing phase that must win over the br_netfilter note.
	res := result(steady, h, nil)
	for i := range res.Steps {
		if res.Steps[i].Phase == plan.PhaseForward {
			res.Steps[i].Err = errors.New("iptables: exit status 4")
		}
	}
	st := Build(res, opts, 1)
	c := findCond(t, st.Conditions, v1alpha1.ConditionBridgeNetfilterReady)
	want := cond{"BridgeNetfilterReady", "False", "ApplyFailed", "iptables: exit status 4"}
	if got := conds([]metav1.Condition{c})[0]; got != want {
		t.Errorf("BridgeNetfilterReady = %+v, want %+v", got, want)
	}
}

func TestBuildNoCarrier(t *testing.T) {
	h := host()
	h.Links[1].OperState = "down"
	h.Links[1].Carrier = false
	st := Build(result(steady, h, nil), opts, 1)
	if st.UplinkStatus != v1alpha1.LinkDown {
		t.Errorf("UplinkStatus = %q", st.UplinkStatus)
	}
	u := findCond(t, st.Conditions, v1alpha1.ConditionUplinkReady)
	want := cond{"UplinkReady", "False", "NoCarrier", "eth0 is enslaved to br0 but its link is down: check the cable and the switch port"}
	if got := conds([]metav1.Condition{u})[0]; got != want {
		t.Errorf("UplinkReady = %+v, want %+v", got, want)
	}
	if r := findCond(t, st.Conditions, v1alpha1.ConditionReady); r.Status != metav1.ConditionFalse || r.Reason != ReasonNoCarrier {
		t.Errorf("Ready = %+v", r)
	}
}

func TestBuildNoUplink(t *testing.T) {
	h := host()
	h.Links[1].MasterIndex = 0
	h.DHCPRules = nil
	d := desired.State{Bridge: "br0"}
	st := Build(result(d, h, nil), opts, 1)
	u := findCond(t, st.Conditions, v1alpha1.ConditionUplinkReady)
	if u.Status != metav1.ConditionTrue || u.Reason != ReasonNotConfigured || u.Message != "no uplink: spec.network.nic is empty, the bridge has no NIC" {
		t.Errorf("UplinkReady = %+v", u)
	}
	if st.UplinkStatus != "" || st.NetworkIDs != nil {
		t.Errorf("UplinkStatus %q, NetworkIDs %v", st.UplinkStatus, st.NetworkIDs)
	}
}

func TestBuildTeardown(t *testing.T) {
	h := host()
	// The bridge is gone, eth0 has the node's configuration back.
	h.Links = slices.DeleteFunc(h.Links, func(l hoststate.Link) bool { return l.Name == "br0" || l.Name == "vm1" })
	h.Links[1].MasterIndex = 0
	h.Links[1].Addrs = append(h.Links[1].Addrs, hoststate.Addr{Prefix: netip.MustParsePrefix("10.0.0.5/24")})
	h.PortVLANs = nil
	h.DHCPRules = nil
	for i := range h.Routes {
		h.Routes[i].LinkIndex = 2
	}
	st := Build(result(desired.State{Teardown: true, Bridge: "br0"}, h, nil), opts, 4)
	r := findCond(t, st.Conditions, v1alpha1.ConditionReady)
	if r.Status != metav1.ConditionTrue || r.Reason != ReasonNotConfigured || r.Message != "no VLAN network on this node" {
		t.Errorf("Ready = %+v", r)
	}
	b := findCond(t, st.Conditions, v1alpha1.ConditionBridgeReady)
	if b.Status != metav1.ConditionTrue || b.Message != "br0 is not present" {
		t.Errorf("BridgeReady = %+v", b)
	}
	u := findCond(t, st.Conditions, v1alpha1.ConditionUplinkReady)
	if u.Status != metav1.ConditionTrue || u.Reason != ReasonNotConfigured {
		t.Errorf("UplinkReady = %+v", u)
	}
	v := findCond(t, st.Conditions, v1alpha1.ConditionVLANsReady)
	if v.Status != metav1.ConditionTrue || v.Reason != ReasonNotConfigured || v.Message != "nothing to do" {
		t.Errorf("VLANsReady = %+v", v)
	}
	if _, ok := st.NetworkStatus["br0"]; ok {
		t.Error("NetworkStatus shows a deleted bridge")
	}
	if e, ok := st.NetworkStatus["eth0"]; !ok || !slices.Equal(e.IPv4Address, []string{"10.0.0.5/24"}) {
		t.Errorf("NetworkStatus[eth0] (management) = %+v, %v", e, ok)
	}
}

func TestBuildNetworkIDs(t *testing.T) {
	h := host()
	h.PortVLANs["eth0"] = []hoststate.VLAN{
		{VID: 30}, {VID: 1, PVID: true, Untagged: true}, {VID: 4094}, {VID: 5, PVID: true}, {VID: 10}, {VID: 1}, {VID: 2},
	}
	st := Build(result(steady, h, nil), opts, 1)
	if want := []int{2, 10, 30, 4094}; !slices.Equal(st.NetworkIDs, want) {
		t.Errorf("NetworkIDs = %v, want %v", st.NetworkIDs, want)
	}
}

func TestInventory(t *testing.T) {
	got := Inventory(host(), opts)
	want := []v1alpha1.NIC{
		{Name: "bond0", Index: 8, Type: "bond", MAC: "52:54:00:00:00:08", MTU: 1500, LinkStatus: v1alpha1.LinkLowerLayerDown, Usable: true},
		{Name: "eth0", Index: 2, Type: "device", MAC: mac0, MTU: 1500, LinkStatus: v1alpha1.LinkUp, Master: "br0", UsedByManagement: true, Usable: true},
		{Name: "eth1", Index: 4, Type: "device", MAC: mac1, MTU: 9000, LinkStatus: v1alpha1.LinkDown, Usable: true,
			Driver: "ixgbe", SpeedMbps: 10000, PCIAddress: "0000:03:00.1", PermanentMAC: "52:54:00:aa:bb:cc"},
		{Name: "eth2", Index: 5, Type: "device", MAC: "52:54:00:00:00:03", MTU: 1500, LinkStatus: v1alpha1.LinkDown, Master: "otherbr",
			UnusableReason: "it is already enslaved to otherbr"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Inventory() =")
		for _, n := range got {
			t.Errorf("  %+v", n)
		}
		t.Errorf("want")
		for _, n := range want {
			t.Errorf("  %+v", n)
		}
	}

	// With veth accepted the VM's veth shows up, and the link holding the
	// default route itself is the one used by management.
	h := host()
	h.Links[1].MasterIndex = 0
	for i := range h.Routes {
		h.Routes[i].LinkIndex = 2
	}
	vopts := desired.Options{BridgeName: "br0", UplinkTypes: []string{"device", "veth"}}
	var names []string
	mgmt := map[string]bool{}
	for _, n := range Inventory(h, vopts) {
		names = append(names, n.Name)
		mgmt[n.Name] = n.UsedByManagement
	}
	if !slices.Equal(names, []string{"eth0", "eth1", "eth2", "vm1"}) {
		t.Errorf("Inventory names = %v", names)
	}
	if !mgmt["eth0"] || mgmt["eth1"] || mgmt["vm1"] {
		t.Errorf("UsedByManagement = %v, want eth0 only", mgmt)
	}
}

func TestEqual(t *testing.T) {
	base := Build(result(steady, host(), nil), opts, 1)
	t1 := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	t2 := metav1.NewTime(t1.Add(time.Hour))

	a := *base.DeepCopy()
	SetTransitions(&v1alpha1.NodeStatus{}, &a, t1)
	b := *base.DeepCopy()
	SetTransitions(&v1alpha1.NodeStatus{}, &b, t2)
	if !Equal(&a, &b) {
		t.Error("Equal() = false for statuses differing only in transition times")
	}
	if !Equal(&base, &a) {
		t.Error("Equal() = false between an unstamped and a stamped status")
	}

	c := *a.DeepCopy()
	c.Conditions[3].Message = "VLAN IDs [10] are allowed on the uplink"
	if Equal(&a, &c) {
		t.Error("Equal() = true although a message changed")
	}
	d := *a.DeepCopy()
	d.Conditions[0].Status = metav1.ConditionFalse
	if Equal(&a, &d) {
		t.Error("Equal() = true although a status changed")
	}
	e := *a.DeepCopy()
	e.NetworkIDs = []int{10}
	if Equal(&a, &e) {
		t.Error("Equal() = true although networkIDs changed")
	}
	f := *a.DeepCopy()
	f.NICs[0].Usable = false
	if Equal(&a, &f) {
		t.Error("Equal() = true although the inventory changed")
	}
	// Equal does not change its arguments.
	if a.Conditions[0].LastTransitionTime != t1 {
		t.Error("Equal() cleared the caller's transition time")
	}
	// A nil and an empty NetworkStatus are the same status.
	g, h := a.DeepCopy(), a.DeepCopy()
	g.NetworkStatus, h.NetworkStatus = nil, map[string]v1alpha1.LinkStatus{}
	if !Equal(g, h) {
		t.Error("Equal() = false for nil and empty NetworkStatus")
	}
}

func TestSetTransitions(t *testing.T) {
	old := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	now := metav1.NewTime(old.Add(time.Hour))
	prev := &v1alpha1.NodeStatus{Conditions: []metav1.Condition{
		{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready", Message: "old message", LastTransitionTime: old},
		{Type: "BridgeReady", Status: metav1.ConditionTrue, LastTransitionTime: old},
		{Type: "UplinkReady", Status: metav1.ConditionFalse, LastTransitionTime: old},
		{Type: "VLANsReady", Status: metav1.ConditionTrue}, // never stamped
	}}
	next := &v1alpha1.NodeStatus{Conditions: []metav1.Condition{
		{Type: "Ready", Status: metav1.ConditionTrue, Reason: "Ready", Message: "new message"},
		{Type: "BridgeReady", Status: metav1.ConditionFalse},
		{Type: "UplinkReady", Status: metav1.ConditionTrue},
		{Type: "VLANsReady", Status: metav1.ConditionTrue},
		{Type: "DHCPRulesReady", Status: metav1.ConditionTrue}, // new
	}}
	SetTransitions(prev, next, now)
	want := map[string]metav1.Time{
		"Ready":          old, // same status, new message: time kept
		"BridgeReady":    now, // flipped
		"UplinkReady":    now, // flipped
		"VLANsReady":     now, // no old time to keep
		"DHCPRulesReady": now, // new
	}
	for _, c := range next.Conditions {
		if !c.LastTransitionTime.Equal(&metav1.Time{Time: want[c.Type].Time}) {
			t.Errorf("%s: LastTransitionTime = %v, want %v", c.Type, c.LastTransitionTime, want[c.Type])
		}
	}
	if prev.Conditions[1].LastTransitionTime != old {
		t.Error("SetTransitions changed prev")
	}
}

// Harvester's own layout: the management bridge mgmt-br carries the default
// route over the bond mgmt-bo, whose slaves are the physical NICs. Those
// NICs carry the node's management traffic as much as the bond does.
func TestInventoryManagementThroughBond(t *testing.T) {
	h := &hoststate.State{
		Links: []hoststate.Link{
			{Name: "lo", Index: 1, Type: "device", Loopback: true, AdminUp: true},
			{Name: "ens3", Index: 2, Type: "device", MAC: mac0, MTU: 1500, AdminUp: true, OperState: "up", MasterIndex: 4},
			{Name: "ens4", Index: 3, Type: "device", MAC: mac1, MTU: 1500, AdminUp: true, OperState: "up"},
			{Name: "mgmt-bo", Index: 4, Type: "bond", MAC: mac0, MTU: 1500, AdminUp: true, OperState: "up", MasterIndex: 5},
			{Name: "mgmt-br", Index: 5, Type: "bridge", MAC: mac0, MTU: 1500, AdminUp: true, OperState: "up",
				Addrs: []hoststate.Addr{{Prefix: netip.MustParsePrefix("10.0.0.5/24")}}},
		},
		Routes: []hoststate.Route{{Gw: netip.MustParseAddr("10.0.0.1"), LinkIndex: 5, Protocol: 16, Table: 254, Priority: 100, Family: 2}},
	}
	got := map[string]bool{}
	for _, n := range Inventory(h, opts) {
		got[n.Name] = n.UsedByManagement
	}
	want := map[string]bool{"ens3": true, "ens4": false, "mgmt-bo": true}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UsedByManagement = %v, want %v", got, want)
	}
}

func TestBuildForwardMessageNamesTheDroppingBackends(t *testing.T) {
	h := host()
	h.Forward = []hoststate.Forward{
		{Backend: "nf_tables", Policy: "ACCEPT"},
		{Backend: "legacy", Policy: "DROP"},
	}
	st := Build(result(steady, h, nil), opts, 1)
	c := findCond(t, st.Conditions, v1alpha1.ConditionBridgeNetfilterReady)
	want := "routed traffic through it is left to the FORWARD DROP policy of iptables legacy and its rules"
	if c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, want) {
		t.Errorf("BridgeNetfilterReady %s %q, want True naming %q", c.Status, c.Message, want)
	}
}

// status.uplinkNICs says how each reference of spec.network.uplink
// resolved, also when one did not; Ready and UplinkReady then name the
// reference and the reason (NICNotFound, NICAmbiguous).
func TestBuildUplinkNICs(t *testing.T) {
	mac := v1alpha1.NICRef{MAC: "52:54:00:AA:BB:CC"} // eth1's permanent MAC
	tests := []struct {
		name     string
		refs     []v1alpha1.NICRef
		resolved []string
		reason   string
		message  string
	}{
		{name: "resolved", refs: []v1alpha1.NICRef{mac}, resolved: []string{"eth1"}},
		{name: "one not found", refs: []v1alpha1.NICRef{mac, {PCIAddress: "0000:99:00.0"}}, resolved: []string{"eth1", ""},
			reason: desired.ReasonNICNotFound, message: "spec.network.uplink.nics[1]: no NIC on this node has the PCI address 0000:99:00.0; pick one from status.nics"},
		{name: "two refs for one NIC", refs: []v1alpha1.NICRef{mac, {PCIAddress: "0000:03:00.1"}}, resolved: []string{"eth1", ""},
			reason: desired.ReasonNICAmbiguous, message: `spec.network.uplink.nics[1]: names NIC "eth1", which nics[0] names too`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := host()
			u := &v1alpha1.UplinkSpec{NICs: tt.refs}
			if len(tt.refs) > 1 {
				u.Bond = &v1alpha1.BondOptions{}
			}
			in := desired.Input{Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, Uplink: u}}}
			d, err := desired.Compute(in, opts)
			if err != nil {
				t.Fatal(err)
			}
			d, err = desired.Resolve(d, h, opts)
			res := reconcile.Result{Host: h, UplinkNICs: d.NICs}
			if ie, ok := desired.AsInvalid(err); ok {
				res.Invalid = ie
			} else if err != nil {
				t.Fatal(err)
			}
			st := Build(res, opts, 2)
			var got []string
			for i, r := range st.UplinkNICs {
				got = append(got, r.Name)
				if r.Ref != tt.refs[i] {
					t.Errorf("uplinkNICs[%d] is of %+v, want %+v", i, r.Ref, tt.refs[i])
				}
			}
			if !slices.Equal(got, tt.resolved) {
				t.Errorf("uplinkNICs names %q, want %q", got, tt.resolved)
			}
			ready := st.Conditions[0]
			if tt.reason == "" {
				if res.Invalid != nil {
					t.Errorf("invalid: %v", res.Invalid)
				}
				return
			}
			if ready.Reason != tt.reason || !strings.HasPrefix(ready.Message, tt.message) {
				t.Errorf("Ready %s %q, want %s %q", ready.Reason, ready.Message, tt.reason, tt.message)
			}
			if up := st.Conditions[2]; up.Type != v1alpha1.ConditionUplinkReady || up.Reason != tt.reason || up.Message != tt.message {
				t.Errorf("UplinkReady %s %q", up.Reason, up.Message)
			}
		})
	}
}
