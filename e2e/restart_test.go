package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// A new agent finds the host as the old one left it (the management NIC
// on the bridge, its addresses and routes moved) and changes nothing.
func TestAgentRestartLeavesHostAsIs(t *testing.T) {
	n1 := fresh(t, "n1")[0]
	moveToManagementNIC(t, n1)
	eventually(t, wait, func() string { return settled(t, n1) })
	before := snapshot(t, n1)
	n1.Agent.Kill()
	if err := cluster.StartAgent("n1"); err != nil {
		t.Fatal(err)
	}
	// A drift the new agent must repair proves it has done its passes.
	if n1.HasBrNetfilter(t) {
		n1.Sysctl(t, "net.bridge.bridge-nf-call-iptables", "1")
		eventually(t, wait, func() string {
			if strings.TrimSpace(n1.Exec(t, "sysctl", "-n", "net.bridge.bridge-nf-call-iptables")) != "0" {
				return "bridge-nf-call-iptables not repaired by the restarted agent"
			}
			return ""
		})
	}
	if after := snapshot(t, n1); after != before {
		t.Errorf("host changed across an agent restart:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// With the API server down for 30 s the agent still repairs the host (the
// bridge deleted under the management NIC), and once it is back the status
// catches up with what changed meanwhile (eth2 went down).
func TestAPIServerOutage(t *testing.T) {
	n1 := fresh(t, "n1")[0]
	moveToManagementNIC(t, n1)
	// Whatever happens below, the next test needs the API server.
	t.Cleanup(func() {
		if err := cluster.CP.StartAPIServer(); err != nil {
			t.Error(err)
		}
	})
	if err := cluster.CP.StopAPIServer(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	n1.IP(t, "link", "del", bridge)
	eventually(t, wait, func() string { return n1.PortOf(t, "eth0") })
	if !n1.HasDefaultRoute(bridge) {
		t.Error("default route not restored on the rebuilt bridge during the outage")
	}
	n1.IP(t, "link", "set", "eth2", "down")
	// The outage itself is what is tested: it lasts 30 s on purpose.
	time.Sleep(time.Until(stopped.Add(30 * time.Second)))
	if err := cluster.CP.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() string {
		n, err := cluster.HNode(t, "n1")
		if err != nil {
			return err.Error()
		}
		i := slices.IndexFunc(n.Status.NICs, func(c v1alpha1.NIC) bool { return c.Name == "eth2" })
		if i < 0 || n.Status.NICs[i].LinkStatus != v1alpha1.LinkDown {
			return fmt.Sprintf("status.nics %+v does not show eth2 down", n.Status.NICs)
		}
		return ""
	})
}
