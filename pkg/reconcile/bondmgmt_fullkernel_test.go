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
