package e2e

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// bond is the bond the agents build for spec.network.uplink: their
// default --bond-name, derived from the bridge's.
const bond = "harvester-bo0"

// TestBondThroughTheAPI: an admin asks for a bond of eth1 and eth2 with MTU
// 9000 by editing the Node object. On a kernel without bonding (the dev
// machines') UplinkReady and Ready say so, naming the NICs and the driver,
// and the uplink the node had keeps working; on one with it (e2e/guest runs
// the same in the VM) the bond is the bridge's port and status shows it.
// Going back to spec.network.nic gives a Ready node on that NIC.
func TestBondThroughTheAPI(t *testing.T) {
	has := nt.KernelHasBonding(t)
	n1 := fresh(t, "n1")[0]
	enable(t, "eth1", n1)
	cluster.SetUplink(t, "n1", &v1alpha1.UplinkSpec{
		NICs: []v1alpha1.NICRef{{Name: "eth1"}, {Name: "eth2"}},
		Bond: &v1alpha1.BondOptions{Mode: v1alpha1.BondModeActiveBackup},
	}, 9000)
	if !has {
		eventually(t, wait, func() string {
			n, err := cluster.HNode(t, "n1")
			if err != nil {
				return err.Error()
			}
			up := meta.FindStatusCondition(n.Status.Conditions, v1alpha1.ConditionUplinkReady)
			ready := meta.FindStatusCondition(n.Status.Conditions, v1alpha1.ConditionReady)
			if up == nil || ready == nil || up.Status != metav1.ConditionFalse || up.Reason != "Unsupported" ||
				!strings.Contains(up.Message, "CONFIG_BONDING") || !strings.Contains(up.Message, "eth1, eth2") || ready.Status != metav1.ConditionFalse {
				return fmt.Sprintf("UplinkReady %+v, Ready %+v; want both False, UplinkReady Unsupported naming eth1, eth2 and CONFIG_BONDING", up, ready)
			}
			return ""
		})
		// Nothing was taken apart for a bond that cannot be built.
		if msg := n1.PortOf(t, "eth1"); msg != "" {
			t.Errorf("eth1 is no longer the bridge's port: %s", msg)
		}
		t.Logf("proved: a bond asked through the API on a kernel without bonding: UplinkReady False/Unsupported naming the NICs and CONFIG_BONDING; eth1 stays the uplink")
	} else {
		eventually(t, wait, func() string {
			if msg := n1.PortOf(t, bond); msg != "" {
				return msg
			}
			n, err := cluster.HNode(t, "n1")
			if err != nil {
				return err.Error()
			}
			if n.Status.BondState != "up 2/2" || n.Status.MTU != 9000 {
				return fmt.Sprintf("bondState %q mtu %d, want up 2/2 and 9000", n.Status.BondState, n.Status.MTU)
			}
			return cluster.ConditionIs(t, "n1", v1alpha1.ConditionReady, metav1.ConditionTrue, "Ready")
		})
	}

	backToNIC(t, "n1", "eth1")
	eventually(t, wait, func() string { return n1.PortOf(t, "eth1") })
	eventually(t, wait, func() string {
		if _, ok := n1.Link(t, bond); ok {
			return bond + " still there"
		}
		return cluster.ConditionIs(t, "n1", v1alpha1.ConditionUplinkReady, metav1.ConditionTrue, "Ready")
	})
}

// backToNIC asks for one NIC again, without spec.network.uplink and mtu, in
// one update (the CRD refuses nic and uplink together).
func backToNIC(t *testing.T, node, nic string) {
	t.Helper()
	eventually(t, wait, func() string {
		n, err := cluster.HNode(t, node)
		if err != nil {
			return err.Error()
		}
		n.Spec.Network.NIC, n.Spec.Network.Uplink, n.Spec.Network.MTU = nic, nil, 0
		if _, err := cluster.Net.NetworkV1alpha1().Nodes().Update(ctx(t), n, metav1.UpdateOptions{}); err != nil {
			return err.Error()
		}
		return ""
	})
}
