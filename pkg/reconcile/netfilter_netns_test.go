package reconcile_test

import (
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

func TestForwardAcceptRulesFollowADropPolicy(t *testing.T) {
	requireTool(t, "iptables")
	f := newFixture(t)
	f.node.Exec(t, "iptables", "-P", "FORWARD", "DROP")
	f.reconcile(t, vlanSpec(""))
	rules := f.node.Exec(t, "iptables", "-S", "FORWARD")
	for _, want := range []string{"-A FORWARD -i " + br + " -j ACCEPT", "-A FORWARD -o " + br + " -j ACCEPT"} {
		if !strings.Contains(rules, want) {
			t.Errorf("FORWARD chain lacks %q:\n%s", want, rules)
		}
	}
	if again := f.reconcile(t, vlanSpec("")); len(again.Applied) != 0 {
		t.Errorf("second pass applied %v", again.Applied)
	}
	f.reconcile(t, desired.Input{})
	if rules := f.node.Exec(t, "iptables", "-S", "FORWARD"); strings.Contains(rules, br) {
		t.Errorf("teardown left rules:\n%s", rules)
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
