package reconcile_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/status"
)

func lacpSpec(nics ...string) desired.Input {
	in := bondSpec(v1alpha1.BondMode8023AD, 0, nics...)
	in.Spec.Network.Uplink.Bond.LACPRate = "fast"
	in.Spec.Network.Uplink.Bond.XmitHashPolicy = "layer3+4"
	return in
}

// TestBond8023adPartnerAndAggregator: the node's 802.3ad bond of eth1 and
// eth2 against a Linux 802.3ad bond in the switch namespace: both slaves
// end in one aggregator whose partner is the switch bond's MAC. Then the
// switch takes eth2's port out of its bond (as a switch port left out of
// the LAG): status shows eth2 outside the active aggregator, Degraded.
func TestBond8023adPartnerAndAggregator(t *testing.T) {
	nt.RequireKernel(t, nt.KernelHasBonding(t), "bonding (CONFIG_BONDING)")
	f := newFixture(t)
	f.node.AddNIC(t, "eth1")
	f.node.AddNIC(t, "eth2")
	sw := f.node.Switch
	sw.IP(t, "link", "add", "swbond", "type", "bond", "mode", "802.3ad", "lacp_rate", "fast", "miimon", "100")
	for _, p := range []string{"sw-eth1", "sw-eth2"} {
		sw.IP(t, "link", "set", p, "down")
		sw.IP(t, "link", "set", p, "master", "swbond")
	}
	sw.IP(t, "link", "set", "swbond", "up")
	sw.IP(t, "addr", "add", "10.45.0.1/24", "dev", "swbond")
	swMAC, _ := sw.Link(t, "swbond")

	in := lacpSpec("eth1", "eth2")
	f.reconcile(t, in)
	if out := f.node.IP(t, "-d", "link", "show", bo); !strings.Contains(out, "mode 802.3ad") || !strings.Contains(out, "lacp_rate fast") || !strings.Contains(out, "xmit_hash_policy layer3+4") {
		t.Errorf("bond options: %s", out)
	}
	var st v1alpha1.NodeStatus
	nt.Eventually(t, 30*time.Second, func() string {
		st = statusOf(t, f, in)
		bs := st.NetworkStatus[bo].Bond
		if bs == nil || len(bs.Slaves) != 2 {
			return fmt.Sprintf("bond status %+v", bs)
		}
		for _, s := range bs.Slaves {
			if s.InActiveAggregator == nil || !*s.InActiveAggregator || !strings.EqualFold(s.PartnerMAC, swMAC.Address) {
				return fmt.Sprintf("slave %s: in active aggregator %v, partner %q; want both aggregated with partner %s", s.Name, s.InActiveAggregator, s.PartnerMAC, swMAC.Address)
			}
		}
		return ""
	})
	if st.BondState != "up 2/2" {
		t.Errorf("bond state %q, want up 2/2", st.BondState)
	}
	agg := st.NetworkStatus[bo].Bond.Slaves[0].AggregatorID
	t.Logf("proved: LACP with the switch bond: both slaves in aggregator %d, partner %s", agg, swMAC.Address)
	// Traffic over the LAG: the bridge needs an address for that.
	f.node.IP(t, "addr", "add", "10.45.0.5/24", "dev", br)
	pingFromSwitch(t, f, "10.45.0.5")

	// The switch leaves eth2's port out of the LAG (and up, on its own).
	sw.IP(t, "link", "set", "sw-eth2", "nomaster")
	sw.IP(t, "link", "set", "sw-eth2", "up")
	nt.Eventually(t, 30*time.Second, func() string {
		st = statusOf(t, f, in)
		if !strings.HasPrefix(st.BondState, "degraded 1/2: eth2 not in the active 802.3ad aggregator") {
			return "bond state " + st.BondState + ", want eth2 reported outside the active aggregator"
		}
		// A port outside the switch's bond sends no LACPDU: once eth2's
		// partner information times out it is the all-zero default.
		for _, s := range st.NetworkStatus[bo].Bond.Slaves {
			if s.Name == "eth2" && s.PartnerMAC != "00:00:00:00:00:00" {
				return fmt.Sprintf("eth2 partner %q, want 00:00:00:00:00:00 (no LACP partner) from the bonding driver", s.PartnerMAC)
			}
		}
		return ""
	})
	up := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionUplinkReady)
	if up.Reason != status.ReasonDegraded || !strings.Contains(up.Message, "eth2 not in the active 802.3ad aggregator") || !strings.Contains(up.Message, "no LACP partner") {
		t.Errorf("UplinkReady %s/%s %q, want Degraded naming eth2", up.Status, up.Reason, up.Message)
	}
	i := slices.IndexFunc(st.NetworkStatus[bo].Bond.Slaves, func(s v1alpha1.BondSlaveStatus) bool { return s.Name == "eth2" })
	if s := st.NetworkStatus[bo].Bond.Slaves[i]; s.InActiveAggregator == nil || *s.InActiveAggregator {
		t.Errorf("eth2: %+v, want inActiveAggregator false", s)
	}
	pingFromSwitch(t, f, "10.45.0.5")
	t.Logf("proved: switch port of eth2 out of the LAG: bondState %q; UplinkReady %s/%s", st.BondState, up.Status, up.Reason)
	f.reconcile(t, desired.Input{})
}
