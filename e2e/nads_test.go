package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// The bridge NADs set the VLAN IDs (on a kernel without VLAN filtering,
// VLANsReady says which could not be applied and why); a NAD for another
// bridge is ignored, a bad one skipped with a Warning Event on it; edits
// and deletions are followed, through the controller's summary in the
// ClusterNetwork's status.nads.
func TestNADs(t *testing.T) {
	n1 := fresh(t, "n1")[0]
	enable(t, "eth1", n1)
	cluster.CreateNAD(t, "vms", `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":100,"vlanTrunk":[{"minID":200,"maxID":202}]}`)
	cluster.CreateNAD(t, "other", `{"cniVersion":"0.3.1","type":"bridge","bridge":"other-br","vlan":300}`)
	cluster.CreateNAD(t, "broken", `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":5000}`)
	// vlansAre waits until status says the node's VLANs are ids.
	vlansAre := func(ids []int) {
		t.Helper()
		if nt.KernelHasVLANFiltering(t) {
			eventually(t, wait, func() string {
				n, err := cluster.HNode(t, "n1")
				if err != nil {
					return err.Error()
				}
				if !slices.Equal(n.Status.NetworkIDs, ids) {
					return fmt.Sprintf("networkIDs %v, want %v", n.Status.NetworkIDs, ids)
				}
				return ""
			})
			return
		}
		eventually(t, wait, func() string {
			if msg := cluster.ConditionIs(t, "n1", v1alpha1.ConditionVLANsReady, metav1.ConditionFalse, "Unsupported"); msg != "" {
				return msg
			}
			n, err := cluster.HNode(t, "n1")
			if err != nil {
				return err.Error()
			}
			if c := meta.FindStatusCondition(n.Status.Conditions, v1alpha1.ConditionVLANsReady); c == nil || !strings.Contains(c.Message, fmt.Sprint(ids)) || !strings.Contains(c.Message, "CONFIG_BRIDGE_VLAN_FILTERING") {
				return fmt.Sprintf("VLANsReady %+v does not name the VLANs %v and the missing kernel option", c, ids)
			}
			return ""
		})
	}
	vlansAre([]int{100, 200, 201, 202})
	// The controller sums the NADs up once, for every bridge, in the
	// ClusterNetwork the agents read; the broken NAD is not in it.
	nadStatusSays := func(want map[string]string) {
		t.Helper()
		eventually(t, wait, func() string {
			cn, err := cluster.Net.NetworkV1alpha1().ClusterNetworks().Get(ctx(t), v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{})
			if err != nil {
				return err.Error()
			}
			if cn.Status.NADs == nil {
				return "no status.nads"
			}
			for bridge, vlans := range want {
				i := slices.IndexFunc(cn.Status.NADs.Bridges, func(b v1alpha1.BridgeNADs) bool { return b.Bridge == bridge })
				if got := ""; i >= 0 {
					got = cn.Status.NADs.Bridges[i].VLANs
					if got != vlans {
						return fmt.Sprintf("status.nads %+v: bridge %s has VLANs %q, want %q", cn.Status.NADs, bridge, got, vlans)
					}
				} else if vlans != "" {
					return fmt.Sprintf("status.nads %+v: no bridge %s, want VLANs %q", cn.Status.NADs, bridge, vlans)
				}
			}
			return ""
		})
	}
	nadStatusSays(map[string]string{"harvester-br0": "100,200-202", "other-br": "300"})
	// An edit is seen as it is: a NAD's VLAN changes, and the NAD of another
	// bridge moves onto this one (the agent's cache kept only its identity).
	if err := cluster.NADs.SetConfig(ctx(t), "vms", `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":101,"vlanTrunk":[{"minID":200,"maxID":202}]}`); err != nil {
		t.Fatal(err)
	}
	if err := cluster.NADs.SetConfig(ctx(t), "other", `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":300}`); err != nil {
		t.Fatal(err)
	}
	vlansAre([]int{101, 200, 201, 202, 300})
	nadStatusSays(map[string]string{"harvester-br0": "101,200-202,300", "other-br": ""})
	eventually(t, wait, func() string {
		evs, err := cluster.Kube.CoreV1().Events("default").List(ctx(t), metav1.ListOptions{FieldSelector: "involvedObject.name=broken"})
		if err != nil {
			return err.Error()
		}
		for _, e := range evs.Items {
			if e.Type == corev1.EventTypeWarning && e.Reason == "InvalidConfig" && strings.Contains(e.Message, "5000") {
				return ""
			}
		}
		return "no Warning event on the broken NAD"
	})
	for _, name := range []string{"vms", "other", "broken"} {
		if err := cluster.NADs.Delete(ctx(t), name); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, wait, func() string {
		return cluster.ConditionIs(t, "n1", v1alpha1.ConditionVLANsReady, metav1.ConditionTrue, "")
	})
	// No NAD asks anything of the bridge: status.nads stays (empty), so a
	// restarted agent knows the answer is "none" rather than "not yet".
	nadStatusSays(map[string]string{"harvester-br0": ""})
}
