package reconcile_test

import (
	"slices"
	"strings"
	"testing"

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

// A DROP policy can sit in either iptables backend, or both; ACCEPT rules
// only help in the backend that drops.
func TestForwardAcceptRulesFollowADropPolicy(t *testing.T) {
	backends := []string{"iptables-nft", "iptables-legacy"}
	for _, b := range backends {
		requireTool(t, b)
	}
	for _, dropIn := range [][]string{{"iptables-nft"}, {"iptables-legacy"}, backends} {
		t.Run(strings.Join(dropIn, "+"), func(t *testing.T) {
			f := newFixture(t)
			for _, b := range dropIn {
				f.node.Exec(t, b, "-P", "FORWARD", "DROP")
			}
			f.reconcile(t, vlanSpec(""))
			for _, b := range backends {
				rules := f.node.Exec(t, b, "-S", "FORWARD")
				for _, want := range []string{"-A FORWARD -i " + br + " -j ACCEPT", "-A FORWARD -o " + br + " -j ACCEPT"} {
					if got := strings.Contains(rules, want); got != slices.Contains(dropIn, b) {
						t.Errorf("%s FORWARD has %q: %v, want %v:\n%s", b, want, got, !got, rules)
					}
				}
			}
			if again := f.reconcile(t, vlanSpec("")); len(again.Applied) != 0 {
				t.Errorf("second pass applied %v", again.Applied)
			}
			f.reconcile(t, desired.Input{})
			for _, b := range backends {
				if rules := f.node.Exec(t, b, "-S", "FORWARD"); strings.Contains(rules, br) {
					t.Errorf("teardown left %s rules:\n%s", b, rules)
				}
			}
		})
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
