package reconcile_test

import (
	"slices"
	"testing"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// TestBondOfTheManagementNIC: the admin asks for a bond of the management
// NIC eth0 and eth1. The node's addresses and routes move onto the bridge
// as for a single NIC, the node stays reachable, and on release eth0 gets
// them back with the bond gone. An agent restarted in between (the state
// file) still gives them back.
func TestBondOfTheManagementNIC(t *testing.T) {
	nt.RequireKernel(t, nt.KernelHasBonding(t), "bonding (CONFIG_BONDING)")
	f := newFixture(t)
	// Two NICs on one segment: only the NIC holding an address answers
	// ARP for it (arp_ignore 1, as multi-NIC nodes are set up), or the
	// switch may learn the management address at eth1's own MAC, which
	// eth1 gives up for the bond's.
	f.node.Sysctl(t, "net.ipv4.conf.all.arp_ignore", "1")
	f.node.AddManagementNIC(t, "eth0")
	f.node.AddNIC(t, "eth1")
	switchBridge(t, f, 1500, []string{"sw-eth0", "sw-eth1"}, "10.11.0.1/24", "fd00:11::1/64")
	pingFromSwitch(t, f, "10.11.0.5")
	before := f.link(t, "eth0")
	wantAddrs := sorted(before.GlobalAddrs())

	dir := t.TempDir()
	rec := func() *fixture {
		r, err := reconcile.New(f.host, testOpts, dir)
		if err != nil {
			t.Fatal(err)
		}
		return &fixture{node: f.node, host: f.host, rec: r}
	}
	agent := rec()
	agent.reconcile(t, bondSpec(v1alpha1.BondModeActiveBackup, 0, "eth0", "eth1"))
	bridge, bond, nic := f.link(t, br), f.link(t, bo), f.link(t, "eth0")
	if nic.Master != bo || bond.Master != br {
		t.Fatalf("eth0 master %q, %s master %q; want eth0 in the bond on the bridge", nic.Master, bo, bond.Master)
	}
	if got := sorted(bridge.GlobalAddrs()); !slices.Equal(got, wantAddrs) {
		t.Errorf("bridge addresses %v, want %v", got, wantAddrs)
	}
	if got := nic.GlobalAddrs(); len(got) != 0 {
		t.Errorf("eth0 still holds %v", got)
	}
	if bridge.Address != before.Address {
		t.Errorf("bridge MAC %s, want eth0's %s (neighbours' caches stay right)", bridge.Address, before.Address)
	}
	for _, want := range []string{"default via 10.11.0.1 proto static", "192.168.77.0/24 proto static"} {
		if !hasRoute(f.node.Routes(t, "-4", br), want) {
			t.Errorf("bridge routes %q lack %q", f.node.Routes(t, "-4", br), want)
		}
	}
	if !hasRoute(f.node.Routes(t, "-6", br), "default via fd00:11::1 proto static") {
		t.Errorf("bridge IPv6 routes %q lack the default", f.node.Routes(t, "-6", br))
	}
	pingFromSwitch(t, f, "10.11.0.5")
	pingFromSwitch(t, f, "fd00:11::5")
	t.Logf("proved: management address on bond %s of eth0+eth1 under %s: %v", bo, br, wantAddrs)

	// A new agent (restart) releases: eth0 gets everything back.
	agent = rec()
	agent.reconcile(t, desired.Input{})
	if _, ok := f.node.Link(t, bo); ok {
		t.Errorf("%s left after release", bo)
	}
	nic = f.link(t, "eth0")
	if got := sorted(nic.GlobalAddrs()); !slices.Equal(got, wantAddrs) || nic.Master != "" || !nic.Up() {
		t.Errorf("eth0 after release: addresses %v master %q up %v, want %v, free, up", got, nic.Master, nic.Up(), wantAddrs)
	}
	for _, want := range []string{"default via 10.11.0.1 proto static", "192.168.77.0/24 proto static"} {
		if !hasRoute(f.node.Routes(t, "-4", "eth0"), want) {
			t.Errorf("eth0 routes %q lack %q", f.node.Routes(t, "-4", "eth0"), want)
		}
	}
	if !hasRoute(f.node.Routes(t, "-6", "eth0"), "default via fd00:11::1 proto static") {
		t.Errorf("eth0 IPv6 routes %q lack the default", f.node.Routes(t, "-6", "eth0"))
	}
	pingFromSwitch(t, f, "10.11.0.5")
	pingFromSwitch(t, f, "fd00:11::5")
}

// TestManagementNICIntoABondAndBack: the management NIC, the single uplink
// (spec.network.nic), is bonded with eth1 and then made the single uplink
// again. Its addresses and routes stay on the bridge throughout, the node
// answers after each change, and each change converges in one pass.
func TestManagementNICIntoABondAndBack(t *testing.T) {
	nt.RequireKernel(t, nt.KernelHasBonding(t), "bonding (CONFIG_BONDING)")
	f := newFixture(t)
	f.node.Sysctl(t, "net.ipv4.conf.all.arp_ignore", "1") // see TestBondOfTheManagementNIC
	f.node.AddManagementNIC(t, "eth0")
	f.node.AddNIC(t, "eth1")
	switchBridge(t, f, 1500, []string{"sw-eth0", "sw-eth1"}, "10.11.0.1/24", "fd00:11::1/64")
	want := sorted(f.link(t, "eth0").GlobalAddrs())
	onBridge := func(what string) {
		t.Helper()
		if got := sorted(f.link(t, br).GlobalAddrs()); !slices.Equal(got, want) || !hasRoute(f.node.Routes(t, "-4", br), "default via 10.11.0.1") {
			t.Errorf("%s: bridge addresses %v routes %q, want %v and the default route", what, got, f.node.Routes(t, "-4", br), want)
		}
		pingFromSwitch(t, f, "10.11.0.5")
		pingFromSwitch(t, f, "fd00:11::5")
	}
	f.reconcile(t, vlanSpec("eth0"))
	onBridge("eth0 the uplink")
	f.reconcile(t, bondSpec(v1alpha1.BondModeActiveBackup, 0, "eth0", "eth1"))
	if m := f.link(t, "eth0").Master; m != bo {
		t.Errorf("eth0 master %q, want %s", m, bo)
	}
	onBridge("eth0 in the bond")
	f.reconcile(t, vlanSpec("eth0"))
	if _, ok := f.node.Link(t, bo); ok {
		t.Errorf("%s still there", bo)
	}
	if m := f.link(t, "eth0").Master; m != br {
		t.Errorf("eth0 master %q, want %s", m, br)
	}
	onBridge("eth0 the uplink again")
	t.Logf("proved: management NIC eth0 single uplink -> bond with eth1 -> single uplink: %v on %s throughout, reachable over IPv4 and IPv6", want, br)
}
