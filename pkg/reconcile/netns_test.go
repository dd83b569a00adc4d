package reconcile_test

import (
	"slices"
	"strings"
	"testing"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostnet"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

const br = "harvester-br0"

var testOpts = desired.Options{BridgeName: br, UplinkTypes: []string{"device", "bond", "veth"}}

type fixture struct {
	node *nt.Node
	host *hostnet.Host
	rec  *reconcile.Reconciler
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	node := nt.NewNode(t)
	host, err := hostnet.New(node.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	rec, err := reconcile.New(host, testOpts, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{node: node, host: host, rec: rec}
}

func vlanSpec(nic string) desired.Input {
	return desired.Input{Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: nic}}}
}

// reconcile runs a pass and fails the test on errors the kernel did not excuse.
func (f *fixture) reconcile(t *testing.T, in desired.Input) reconcile.Result {
	t.Helper()
	return f.checkPass(t, f.rec.Reconcile(in, true))
}

// reconcileNoNetfilter is reconcile of a pass that does not read iptables
// and ebtables again, as the agent's netlink-driven passes.
func (f *fixture) reconcileNoNetfilter(t *testing.T, in desired.Input) reconcile.Result {
	t.Helper()
	return f.checkPass(t, f.rec.Reconcile(in, false))
}

func (f *fixture) checkPass(t *testing.T, res reconcile.Result) reconcile.Result {
	t.Helper()
	if res.Err != nil || res.Invalid != nil {
		t.Fatalf("reconcile: err=%v invalid=%v", res.Err, res.Invalid)
	}
	for _, s := range res.Steps {
		if s.Err != nil {
			t.Fatalf("step %s failed: %v", s.Phase, s.Err)
		}
		if len(s.Actions) > 0 && s.Skipped == "" {
			t.Fatalf("step %s did not converge, still to do: %v", s.Phase, s.Actions)
		}
	}
	return res
}

func (f *fixture) link(t *testing.T, name string) nt.Link {
	t.Helper()
	l, ok := f.node.Link(t, name)
	if !ok {
		t.Fatalf("link %s does not exist", name)
	}
	return l
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func hasRoute(routes []string, prefix string) bool {
	for _, r := range routes {
		if strings.HasPrefix(r, prefix) {
			return true
		}
	}
	return false
}

func TestEnslaveManagementNICMovesAddressesAndRoutesAndBack(t *testing.T) {
	f := newFixture(t)
	f.node.AddManagementNIC(t, "eth0")
	before := f.link(t, "eth0")
	wantAddrs := sorted(before.GlobalAddrs())

	res := f.reconcile(t, vlanSpec("eth0"))
	if len(res.Applied) == 0 {
		t.Fatal("first pass applied nothing")
	}

	bridge, nic := f.link(t, br), f.link(t, "eth0")
	if bridge.LinkInfo.Kind != "bridge" || !bridge.Up() {
		t.Errorf("bridge: kind %q up %v, want an up bridge", bridge.LinkInfo.Kind, bridge.Up())
	}
	if bridge.Address != before.Address || bridge.MTU != before.MTU {
		t.Errorf("bridge MAC/MTU = %s/%d, want the uplink's %s/%d", bridge.Address, bridge.MTU, before.Address, before.MTU)
	}
	if nic.Master != br || !nic.Up() {
		t.Errorf("eth0 master %q up %v, want enslaved to %s and up", nic.Master, nic.Up(), br)
	}
	if got := sorted(bridge.GlobalAddrs()); !slices.Equal(got, wantAddrs) {
		t.Errorf("bridge addresses %v, want %v", got, wantAddrs)
	}
	if got := nic.GlobalAddrs(); len(got) != 0 {
		t.Errorf("eth0 still holds %v", got)
	}
	r4, r6 := f.node.Routes(t, "-4", br), f.node.Routes(t, "-6", br)
	for _, want := range []string{"default via 10.11.0.1 proto static", "192.168.77.0/24 proto static", "10.11.0.0/24 proto kernel"} {
		if !hasRoute(r4, want) {
			t.Errorf("bridge IPv4 routes %q lack %q", r4, want)
		}
	}
	if !hasRoute(r6, "default via fd00:11::1 proto static") {
		t.Errorf("bridge IPv6 routes %q lack the default route", r6)
	}
	if r := f.node.Routes(t, "-4", "eth0"); len(r) != 0 {
		t.Errorf("eth0 kept IPv4 routes %q", r)
	}
	// The node is reachable on its address through the bridge.
	f.node.Switch.IP(t, "addr", "add", "10.11.0.1/24", "dev", "sw-eth0")
	f.node.Switch.Exec(t, "ping", "-c1", "-W2", "10.11.0.5")

	if again := f.reconcile(t, vlanSpec("eth0")); len(again.Applied) != 0 {
		t.Errorf("second pass applied %v, want nothing", again.Applied)
	}

	f.reconcile(t, desired.Input{}) // type empty: tear down
	if _, ok := f.node.Link(t, br); ok {
		t.Errorf("bridge still exists after teardown")
	}
	nic = f.link(t, "eth0")
	if nic.Master != "" || !nic.Up() {
		t.Errorf("released eth0: master %q up %v, want no master and up", nic.Master, nic.Up())
	}
	if got := sorted(nic.GlobalAddrs()); !slices.Equal(got, wantAddrs) {
		t.Errorf("eth0 addresses after release %v, want %v", got, wantAddrs)
	}
	if r := f.node.Routes(t, "-4", "eth0"); !hasRoute(r, "default via 10.11.0.1") || !hasRoute(r, "192.168.77.0/24") {
		t.Errorf("eth0 routes after release %q lack the default or static route", r)
	}
	if r := f.node.Routes(t, "-6", "eth0"); !hasRoute(r, "default via fd00:11::1") {
		t.Errorf("eth0 IPv6 routes after release %q lack the default route", r)
	}
	f.node.Switch.Exec(t, "ping", "-c1", "-W2", "10.11.0.5")
}

func TestSwitchNICReleasesTheOldOneFirst(t *testing.T) {
	f := newFixture(t)
	f.node.AddManagementNIC(t, "eth0")
	f.node.AddNIC(t, "eth1", "10.22.0.5/24")
	f.reconcile(t, vlanSpec("eth1"))
	if got := f.link(t, br).GlobalAddrs(); !slices.Equal(got, []string{"10.22.0.5/24"}) {
		t.Fatalf("bridge addresses with eth1 %v, want eth1's", got)
	}

	f.reconcile(t, vlanSpec("eth0"))
	eth1, eth0 := f.link(t, "eth1"), f.link(t, "eth0")
	if eth1.Master != "" || !eth1.Up() || !slices.Equal(eth1.GlobalAddrs(), []string{"10.22.0.5/24"}) {
		t.Errorf("eth1 after switch: master %q up %v addrs %v, want released, up, with its address", eth1.Master, eth1.Up(), eth1.GlobalAddrs())
	}
	if eth0.Master != br {
		t.Errorf("eth0 master %q, want %s", eth0.Master, br)
	}
	if got := sorted(f.link(t, br).GlobalAddrs()); !slices.Equal(got, []string{"10.11.0.5/24", "fd00:11::5/64"}) {
		t.Errorf("bridge addresses after switch %v, want eth0's", got)
	}
}

func TestTeardownKeepsBridgeWithVMsAttached(t *testing.T) {
	f := newFixture(t)
	f.node.AddNIC(t, "eth1")
	f.reconcile(t, vlanSpec("eth1"))
	vm := nt.NewNS(t)
	f.node.IP(t, "link", "add", "vm1", "type", "veth", "peer", "name", "eth0", "netns", vm.Name)
	f.node.IP(t, "link", "set", "vm1", "master", br)

	res := f.reconcile(t, desired.Input{})
	if _, ok := f.node.Link(t, br); !ok {
		t.Fatal("bridge was deleted with a VM still attached")
	}
	if f.link(t, "vm1").Master != br {
		t.Error("the VM's veth was released from the bridge")
	}
	if f.link(t, "eth1").Master != "" {
		t.Error("the uplink was not released")
	}
	if note := stepOf(res, plan.PhaseBridge).Note; !strings.Contains(note, "vm1") {
		t.Errorf("bridge step note %q does not name the attached VM port", note)
	}
}

func stepOf(res reconcile.Result, p plan.Phase) reconcile.StepResult {
	for _, s := range res.Steps {
		if s.Phase == p {
			return s
		}
	}
	return reconcile.StepResult{}
}

func TestResumesAfterACrashMidEnslave(t *testing.T) {
	f := newFixture(t)
	f.node.AddManagementNIC(t, "eth0")
	mac := f.link(t, "eth0").Address
	// As left by a crash after the bridge got the addresses and the NIC was
	// enslaved, but before the NIC's own copies were removed.
	f.node.IP(t, "link", "add", br, "type", "bridge")
	f.node.IP(t, "link", "set", br, "alias", plan.OwnerAlias) // harvnet's bridges carry its mark from creation
	f.node.IP(t, "link", "set", br, "address", mac, "up")
	f.node.IP(t, "addr", "add", "10.11.0.5/24", "dev", br)
	f.node.IP(t, "link", "set", "eth0", "master", br)

	f.reconcile(t, vlanSpec("eth0"))
	if got := f.link(t, "eth0").GlobalAddrs(); len(got) != 0 {
		t.Errorf("eth0 still holds %v after resuming", got)
	}
	if got := sorted(f.link(t, br).GlobalAddrs()); !slices.Equal(got, []string{"10.11.0.5/24", "fd00:11::5/64"}) {
		t.Errorf("bridge addresses %v, want both of eth0's", got)
	}
	if !hasRoute(f.node.Routes(t, "-4", br), "default via 10.11.0.1") {
		t.Error("default route did not move to the bridge")
	}
}

func TestVLANsAndKernelCapabilities(t *testing.T) {
	f := newFixture(t)
	f.node.AddNIC(t, "eth1")
	in := vlanSpec("eth1")
	in.VLANs = []int{20, 10, 11, 12}
	res := f.reconcile(t, in)
	vlans := stepOf(res, plan.PhaseVLANs)
	if nt.KernelHasVLANFiltering(t) {
		if vf := f.link(t, br).LinkInfo.Data.VLANFiltering; vf == nil || *vf != 1 {
			t.Errorf("vlan_filtering = %v, want 1", vf)
		}
		out := f.node.Exec(t, "bridge", "-compressvlans", "vlan", "show", "dev", "eth1")
		for _, want := range []string{"10-12", "20"} {
			if !strings.Contains(out, want) {
				t.Errorf("bridge vlan show %q lacks %s", out, want)
			}
		}
		return
	}
	why := res.Missing[plan.CapVLANFiltering]
	if !strings.Contains(why, "CONFIG_BRIDGE_VLAN_FILTERING") {
		t.Errorf("missing capability %q does not name the kernel option", why)
	}
	if !strings.Contains(vlans.Skipped, "[10 11 12 20]") {
		t.Errorf("VLAN step skip %q does not name the VLAN IDs that could not be applied", vlans.Skipped)
	}
	// Everything else was still done.
	if f.link(t, "eth1").Master != br {
		t.Error("uplink not enslaved when VLAN filtering is missing")
	}
}

func TestBadInputLeavesTheHostAsItIs(t *testing.T) {
	f := newFixture(t)
	f.node.AddManagementNIC(t, "eth0")
	f.node.IP(t, "link", "add", "other-br", "type", "bridge")
	f.node.AddNIC(t, "eth2")
	f.node.IP(t, "link", "set", "eth2", "master", "other-br")
	veth := nt.NewNS(t)
	f.node.IP(t, "link", "add", "vmveth", "type", "veth", "peer", "name", "x", "netns", veth.Name)

	strict, err := reconcile.New(f.host, desired.Options{BridgeName: br, UplinkTypes: desired.DefaultUplinkTypes}, "")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, nic, reason string
		rec               *reconcile.Reconciler
		vlans             []int
	}{
		{"missing NIC", "eth9", desired.ReasonNICNotFound, f.rec, nil},
		{"loopback", "lo", desired.ReasonInvalidNIC, f.rec, nil},
		{"the bridge itself", br, desired.ReasonInvalidNIC, f.rec, nil},
		{"name too long", "eth0123456789abc", desired.ReasonInvalidNIC, f.rec, nil},
		{"name with slash", "eth0/1", desired.ReasonInvalidNIC, f.rec, nil},
		{"name with space", "eth 0", desired.ReasonInvalidNIC, f.rec, nil},
		{"enslaved elsewhere", "eth2", desired.ReasonNICEnslavedElsewhere, f.rec, nil},
		{"veth not allowed", "vmveth", desired.ReasonNICTypeNotAllowed, strict, nil},
		{"VLAN out of range", "eth0", desired.ReasonInvalidVLAN, f.rec, []int{10, 4095}},
	}
	snapshot := func() string {
		return f.node.IP(t, "-d", "addr") + f.node.IP(t, "route") + f.node.IP(t, "-6", "route")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot()
			in := vlanSpec(c.nic)
			in.VLANs = c.vlans
			res := c.rec.Reconcile(in, true)
			if res.Invalid == nil || res.Invalid.Reason != c.reason {
				t.Fatalf("invalid = %+v, want reason %s", res.Invalid, c.reason)
			}
			if len(res.Applied) != 0 {
				t.Errorf("applied %v for bad input", res.Applied)
			}
			if after := snapshot(); after != before {
				t.Errorf("host changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
