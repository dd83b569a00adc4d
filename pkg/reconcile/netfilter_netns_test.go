package reconcile_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/plan"
)

func requireTool(t *testing.T, cmd string) {
	t.Helper()
	if !nt.Have(cmd) {
		if nt.InCI() {
			t.Fatalf("%s is not installed; scripts/install-tools.sh should have installed it", cmd)
		}
		t.Skipf("%s is not installed (scripts/install-tools.sh installs it)", cmd)
	}
}

func TestBridgeNFCallIPTablesIsTurnedOff(t *testing.T) {
	f := newFixture(t)
	if !f.node.HasBrNetfilter(t) {
		t.Skip("br_netfilter is not loaded on this kernel, so there is no sysctl to check")
	}
	f.node.Exec(t, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
	f.reconcile(t, vlanSpec(""))
	if got := strings.TrimSpace(f.node.Exec(t, "sysctl", "-n", "net.bridge.bridge-nf-call-iptables")); got != "0" {
		t.Errorf("bridge-nf-call-iptables = %s, want 0", got)
	}
}

// harvnet adds no FORWARD rules; the accept rules older agents inserted
// first (-i/-o bridge -j ACCEPT) are removed from whichever backend has
// them, under either policy, and a teardown leaves none either.
func TestForwardRulesOfOlderAgentsAreRemoved(t *testing.T) {
	backends := []string{"iptables-nft", "iptables-legacy"}
	for _, b := range backends {
		requireTool(t, b)
	}
	for _, dropIn := range [][]string{{"iptables-nft"}, {"iptables-legacy"}, backends} {
		t.Run(strings.Join(dropIn, "+"), func(t *testing.T) {
			f := newFixture(t)
			for _, b := range dropIn {
				f.node.Exec(t, b, "-P", "FORWARD", "DROP")
				addOldForwardRules(t, f, b)
			}
			f.reconcile(t, vlanSpec(""))
			for _, b := range backends {
				if rules := f.node.Exec(t, b, "-S", "FORWARD"); strings.Contains(rules, br) {
					t.Errorf("%s FORWARD still names %s:\n%s", b, br, rules)
				}
			}
			if again := f.reconcile(t, vlanSpec("")); len(again.Applied) != 0 {
				t.Errorf("second pass applied %v", again.Applied)
			}
			// An older agent's rules found at teardown go too.
			addOldForwardRules(t, f, dropIn[0])
			f.reconcile(t, desired.Input{})
			for _, b := range backends {
				if rules := f.node.Exec(t, b, "-S", "FORWARD"); strings.Contains(rules, br) {
					t.Errorf("teardown left %s rules:\n%s", b, rules)
				}
			}
		})
	}
}

// addOldForwardRules inserts the rules agents before this change added.
func addOldForwardRules(t *testing.T, f *fixture, backend string) {
	t.Helper()
	for _, dir := range []string{"-i", "-o"} {
		f.node.Exec(t, backend, "-I", "FORWARD", "1", dir, br, "-j", "ACCEPT")
	}
}

// With the management NIC as the bridge's port, the node routes its own
// traffic through the bridge. Another component's FORWARD DROP (a CNI's
// network policy, a firewall) must still drop that routed traffic while
// harvnet's setup is in place: the switch namespace (on the bridge's side)
// pings a namespace behind the node's eth2, which the node routes. The
// older agents' accept rules let it through (checked first, so the test can
// fail); once a pass has removed them, the DROP holds.
func TestForwardDropStillDropsRoutedTrafficThroughTheBridge(t *testing.T) {
	requireTool(t, "iptables-nft")
	f := newFixture(t)
	f.node.AddManagementNIC(t, "eth0") // 10.11.0.5/24, default via 10.11.0.1
	f.reconcile(t, vlanSpec("eth0"))
	if got := f.link(t, "eth0").Master; got != br {
		t.Fatalf("eth0's master is %q, want %s", got, br)
	}
	sw := f.node.Switch
	sw.IP(t, "addr", "add", "10.11.0.1/24", "dev", "sw-eth0")
	sw.IP(t, "route", "add", "10.77.2.0/24", "via", "10.11.0.5")
	far := nt.NewNS(t)
	f.node.IP(t, "link", "add", "eth2", "type", "veth", "peer", "name", "far0", "netns", far.Name)
	f.node.IP(t, "addr", "add", "10.77.2.1/24", "dev", "eth2")
	f.node.IP(t, "link", "set", "eth2", "up")
	far.IP(t, "addr", "add", "10.77.2.2/24", "dev", "far0")
	far.IP(t, "link", "set", "far0", "up")
	far.IP(t, "route", "add", "default", "via", "10.77.2.1")
	f.node.Sysctl(t, "net.ipv4.ip_forward", "1")

	ping := func() bool {
		return exec.Command("ip", "netns", "exec", sw.Name, "ping", "-c1", "-W1", "-I", "10.11.0.1", "10.77.2.2").Run() == nil
	}
	nt.Eventually(t, 20*time.Second, nt.Check("the node does not route between its bridge and eth2", ping))
	if res := f.rec.Reconcile(vlanSpec("eth0"), true); len(res.Applied) != 0 {
		t.Fatalf("the pass applied %v with the routing in place", res.Applied)
	}

	// Another component drops forwarded traffic; an older agent's rules,
	// first in the chain, would let the routed ping skip that.
	f.node.Exec(t, "iptables-nft", "-P", "FORWARD", "DROP")
	addOldForwardRules(t, f, "iptables-nft")
	nt.Eventually(t, 20*time.Second, nt.Check("an older agent's rules do not let routed traffic past the DROP (the test cannot tell)", ping))

	f.reconcile(t, vlanSpec("eth0"))
	if rules := f.node.Exec(t, "iptables-nft", "-S", "FORWARD"); strings.Contains(rules, br) || !strings.Contains(rules, "-P FORWARD DROP") {
		t.Fatalf("FORWARD after the pass:\n%s", rules)
	}
	nt.Eventually(t, 20*time.Second, nt.Check("routed traffic through the bridge passes the FORWARD DROP policy", func() bool { return !ping() }))
	// A rule of its own, under an ACCEPT policy, drops it as well.
	f.node.Exec(t, "iptables-nft", "-P", "FORWARD", "ACCEPT")
	nt.Eventually(t, 20*time.Second, nt.Check("routing came not back under ACCEPT", ping))
	f.node.Exec(t, "iptables-nft", "-A", "FORWARD", "-i", br, "-o", "eth2", "-j", "DROP")
	if res := f.rec.Reconcile(vlanSpec("eth0"), true); len(res.Applied) != 0 {
		t.Fatalf("the pass applied %v to another component's rule", res.Applied)
	}
	nt.Eventually(t, 20*time.Second, nt.Check("another component's FORWARD DROP rule does not drop routed traffic through the bridge", func() bool { return !ping() }))
	if rules := f.node.Exec(t, "iptables-nft", "-S", "FORWARD"); !strings.Contains(rules, "-A FORWARD -i "+br+" -o eth2 -j DROP") {
		t.Errorf("the other component's rule is gone:\n%s", rules)
	}
}

// Reading the legacy backend must not create its filter table where the
// node does not use it: every packet would then also walk its hooks.
func TestForwardCheckLeavesAnUnusedLegacyTableUncreated(t *testing.T) {
	f := newFixture(t)
	f.reconcile(t, vlanSpec(""))
	if names := f.node.Exec(t, "cat", "/proc/net/ip_tables_names"); strings.Contains(names, "filter") {
		t.Errorf("the legacy filter table was created: ip_tables_names %q", names)
	}
}

func TestDHCPBrouteRulesOrAClearReasonWhyNot(t *testing.T) {
	f := newFixture(t)
	f.node.AddNIC(t, "eth1")
	res := f.reconcile(t, vlanSpec("eth1"))
	dhcp := stepOf(res, plan.PhaseDHCP)
	if !nt.Have("ebtables-legacy") || !nt.KernelHasBroute(t) {
		if why := res.Missing[plan.CapBroute]; !strings.Contains(why, "broute") {
			t.Errorf("missing broute reason %q does not say what is missing", why)
		}
		if !strings.Contains(dhcp.Skipped, "eth1") {
			t.Errorf("DHCP step skip %q does not name the NIC", dhcp.Skipped)
		}
		return
	}
	mac := f.link(t, "eth1").Address
	out := f.node.Exec(t, "ebtables-legacy", "-t", "broute", "-L", "BROUTING", "--Lmac2")
	for _, side := range []string{"-s " + mac, "-d " + mac} {
		if !strings.Contains(out, side+" -i eth1 --ip-proto udp --ip-dport 67:68 -j DROP") {
			t.Errorf("broute rules lack the %s rule:\n%s", side, out)
		}
	}
	f.reconcile(t, desired.Input{})
	if out := f.node.Exec(t, "ebtables-legacy", "-t", "broute", "-L", "BROUTING"); strings.Contains(out, "eth1") {
		t.Errorf("teardown left broute rules:\n%s", out)
	}
}
