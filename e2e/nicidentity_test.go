package e2e

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/doctor"
)

// Through the API server: the NIC inventory carries what the agent reads
// of each NIC's hardware (a veth's speed, through the node's own sysfs that
// `ip netns exec` mounts for the agent); an uplink NIC named by a permanent
// MAC no NIC has is refused with NICNotFound, said in status.uplinkNICs,
// and the host is left as it is; named by a name that exists, it resolves
// and is enslaved. A bridge NAD whose mtu is larger than the uplink's is a
// NADMTU diagnostic naming it, until spec.network.mtu covers it.
func TestNICIdentityThroughTheAPI(t *testing.T) {
	n1 := fresh(t, "n1")[0]
	enable(t, "eth1", n1)
	hnode := func() (*v1alpha1.Node, string) {
		n, err := cluster.HNode(t, "n1")
		if err != nil {
			return nil, err.Error()
		}
		return n, ""
	}
	eventually(t, wait, func() string {
		n, msg := hnode()
		if n == nil {
			return msg
		}
		for _, nic := range n.Status.NICs {
			if nic.Name == "eth2" {
				if nic.SpeedMbps != 10000 || nic.PermanentMAC != "" || nic.PCIAddress != "" {
					return fmt.Sprintf("eth2 in status.nics: %+v, want speed 10000 (a veth up) and no permanent MAC or PCI slot", nic)
				}
				return ""
			}
		}
		return "no eth2 in status.nics"
	})

	const nobody = "02:de:ad:be:ef:01"
	cluster.SetUplink(t, "n1", &v1alpha1.UplinkSpec{NICs: []v1alpha1.NICRef{{MAC: nobody}}}, 0)
	eventually(t, wait, func() string {
		if msg := cluster.ConditionIs(t, "n1", v1alpha1.ConditionReady, metav1.ConditionFalse, "NICNotFound"); msg != "" {
			return msg
		}
		n, msg := hnode()
		if n == nil {
			return msg
		}
		if u := n.Status.UplinkNICs; len(u) != 1 || u[0].Ref.MAC != nobody || u[0].Name != "" || !strings.Contains(u[0].Message, "no NIC on this node has the permanent MAC "+nobody) {
			return fmt.Sprintf("status.uplinkNICs %+v, want the MAC unresolved with a message", u)
		}
		return ""
	})
	if msg := n1.PortOf(t, "eth1"); msg != "" {
		t.Errorf("a refused uplink changed the host: %s", msg)
	}

	cluster.SetUplink(t, "n1", &v1alpha1.UplinkSpec{NICs: []v1alpha1.NICRef{{Name: "eth2"}}}, 0)
	eventually(t, wait, func() string { return n1.PortOf(t, "eth2") })
	eventually(t, wait, func() string {
		if msg := cluster.ConditionIs(t, "n1", v1alpha1.ConditionUplinkReady, metav1.ConditionTrue, "Ready"); msg != "" {
			return msg
		}
		n, msg := hnode()
		if n == nil {
			return msg
		}
		if u := n.Status.UplinkNICs; len(u) != 1 || u[0].Name != "eth2" || u[0].Message != "" {
			return fmt.Sprintf("status.uplinkNICs %+v, want eth2 resolved", u)
		}
		return ""
	})

	cluster.CreateNAD(t, "jumbo", `{"cniVersion":"0.3.1","name":"jumbo","type":"bridge","bridge":"`+bridge+`","vlan":100,"mtu":9000}`)
	nadMTU := func(n *v1alpha1.Node) *v1alpha1.Diagnostic {
		for i, d := range n.Status.Diagnostics {
			if d.Check == doctor.CheckNADMTU {
				return &n.Status.Diagnostics[i]
			}
		}
		return nil
	}
	eventually(t, wait, func() string {
		n, msg := hnode()
		if n == nil {
			return msg
		}
		if d := nadMTU(n); d == nil || d.Subject != "default/jumbo" || !strings.Contains(d.Message, "MTU 9000 but the uplink eth2 carries 1500") {
			return fmt.Sprintf("diagnostics %+v, want NADMTU for default/jumbo", n.Status.Diagnostics)
		}
		return ""
	})
	cluster.SetUplink(t, "n1", &v1alpha1.UplinkSpec{NICs: []v1alpha1.NICRef{{Name: "eth2"}}}, 9000)
	eventually(t, wait, func() string {
		n, msg := hnode()
		if n == nil {
			return msg
		}
		if d := nadMTU(n); d != nil {
			return fmt.Sprintf("still flagged with spec.network.mtu 9000: %+v", d)
		}
		return ""
	})
}
