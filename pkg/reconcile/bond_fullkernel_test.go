package reconcile_test

import (
	"slices"
	"strings"
	"testing"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// TestBondUplinkWithVLANs makes a bond of two veth NICs the uplink, with the
// agent's default uplink types (device and bond), as on a node whose
// management network is bonded: the bond is enslaved with its slaves kept,
// its address and default route move to the bridge, the VLAN IDs land on
// the bond, the node stays reachable through bridge and bond, and a
// teardown gives everything back. Kernels without bonding skip it; on a
// full kernel (scripts/vm-test.sh) it must run.
func TestBondUplinkWithVLANs(t *testing.T) {
	nt.RequireKernel(t, nt.KernelHasBonding(t), "bonding (CONFIG_BONDING)")
	hasVLANs := nt.KernelHasVLANFiltering(t)
	hasBroute := nt.Have("ebtables-legacy") && nt.KernelHasBroute(t)
	f := newFixture(t)
	f.node.AddBond(t, "bond0", "active-backup", []string{"eth1", "eth2"}, "10.33.0.5/24")
	f.node.IP(t, "route", "add", "default", "via", "10.33.0.1", "dev", "bond0", "proto", "static")
	// The switch side: both slaves' peers on one switch bridge, with the gateway.
	f.node.Switch.IP(t, "link", "add", "sw", "type", "bridge")
	for _, p := range []string{"sw-eth1", "sw-eth2"} {
		f.node.Switch.IP(t, "link", "set", p, "master", "sw")
	}
	f.node.Switch.IP(t, "link", "set", "sw", "up")
	f.node.Switch.IP(t, "addr", "add", "10.33.0.1/24", "dev", "sw")
	bondMAC := f.link(t, "bond0").Address

	// A node's agent: only devices and bonds are uplinks.
	strict, err := reconcile.New(f.host, desired.Options{BridgeName: br, UplinkTypes: desired.DefaultUplinkTypes}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	node := &fixture{node: f.node, host: f.host, rec: strict}
	in := vlanSpec("bond0")
	in.VLANs = []int{202, 100, 200, 201}
	node.reconcile(t, in)

	bond, bridge := f.link(t, "bond0"), f.link(t, br)
	if bond.Master != br || !bond.Up() || bond.LinkInfo.Kind != "bond" {
		t.Fatalf("bond0: kind %q master %q up %v, want an up bond enslaved to %s", bond.LinkInfo.Kind, bond.Master, bond.Up(), br)
	}
	for _, s := range []string{"eth1", "eth2"} {
		if m := f.link(t, s).Master; m != "bond0" {
			t.Errorf("%s master %q, want it kept in bond0", s, m)
		}
	}
	if bridge.Address != bondMAC {
		t.Errorf("bridge MAC %s, want the bond's %s", bridge.Address, bondMAC)
	}
	if got := bridge.GlobalAddrs(); !slices.Equal(got, []string{"10.33.0.5/24"}) {
		t.Errorf("bridge addresses %v, want the bond's", got)
	}
	if got := bond.GlobalAddrs(); len(got) != 0 {
		t.Errorf("bond0 still holds %v", got)
	}
	if !hasRoute(f.node.Routes(t, "-4", br), "default via 10.33.0.1") {
		t.Errorf("the default route did not move to the bridge: %q", f.node.Routes(t, "-4", br))
	}
	f.node.Switch.Exec(t, "ping", "-c1", "-W5", "10.33.0.5")

	if hasVLANs {
		if vf := bridge.LinkInfo.Data.VLANFiltering; vf == nil || *vf != 1 {
			t.Errorf("vlan_filtering = %v, want 1", vf)
		}
		out := f.node.Exec(t, "bridge", "-compressvlans", "vlan", "show", "dev", "bond0")
		for _, want := range []string{"100", "200-202"} {
			if !strings.Contains(out, want) {
				t.Errorf("bridge vlan show dev bond0 %q lacks %s", out, want)
			}
		}
		t.Logf("proved: bond0 (slaves eth1, eth2) is the uplink of %s with vlan_filtering=1; bridge -compressvlans vlan show dev bond0: %s",
			br, compactVLANs(out))
	}
	if hasBroute {
		rules := f.node.Exec(t, "ebtables-legacy", "-t", "broute", "-L", "BROUTING", "--Lmac2")
		for _, side := range []string{"-s " + bondMAC, "-d " + bondMAC} {
			if !strings.Contains(rules, side+" -i bond0 --ip-proto udp --ip-dport 67:68 -j DROP") {
				t.Errorf("broute rules lack the %s rule for bond0:\n%s", side, rules)
			}
		}
	}
	if again := strict.Reconcile(in, true); len(again.Applied) != 0 {
		t.Errorf("second pass applied %v, want nothing", again.Applied)
	}

	// Drift: the bond is taken off the bridge; the next pass puts it back.
	f.node.IP(t, "link", "set", "bond0", "nomaster")
	node.reconcile(t, in)
	if m := f.link(t, "bond0").Master; m != br {
		t.Errorf("after drift bond0 master %q, want %s", m, br)
	}
	f.node.Switch.Exec(t, "ping", "-c1", "-W5", "10.33.0.5")

	// An agent that takes only physical NICs refuses the bond and leaves it be.
	deviceOnly, err := reconcile.New(f.host, desired.Options{BridgeName: br, UplinkTypes: []string{"device"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if res := deviceOnly.Reconcile(in, true); res.Invalid == nil || res.Invalid.Reason != desired.ReasonNICTypeNotAllowed {
		t.Errorf("uplink types [device]: invalid = %+v, want reason %s", res.Invalid, desired.ReasonNICTypeNotAllowed)
	}

	node.reconcile(t, desired.Input{}) // type empty: tear down
	bond = f.link(t, "bond0")
	if bond.Master != "" || !bond.Up() || !slices.Equal(bond.GlobalAddrs(), []string{"10.33.0.5/24"}) {
		t.Errorf("released bond0: master %q up %v addrs %v, want no master, up, its address back", bond.Master, bond.Up(), bond.GlobalAddrs())
	}
	if !hasRoute(f.node.Routes(t, "-4", "bond0"), "default via 10.33.0.1") {
		t.Errorf("bond0 did not get its default route back: %q", f.node.Routes(t, "-4", "bond0"))
	}
	for _, s := range []string{"eth1", "eth2"} {
		if m := f.link(t, s).Master; m != "bond0" {
			t.Errorf("after teardown %s master %q, want bond0", s, m)
		}
	}
	f.node.Switch.Exec(t, "ping", "-c1", "-W5", "10.33.0.5")
}

// compactVLANs puts `bridge -compressvlans vlan show dev X` on one line,
// without its header: "bond0 1 PVID Egress Untagged 100 200-202".
func compactVLANs(out string) string {
	_, rows, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return strings.Join(strings.Fields(rows), " ")
}
