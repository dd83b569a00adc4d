package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Editing a node's NIC to its management NIC moves the NIC onto the bridge
// with its addresses and default route, without cutting the node off; the
// status and an Event say so.
func TestNICSwitchToManagementNIC(t *testing.T) {
	n1 := fresh(t, "n1")[0]
	enable(t, "eth1", n1)
	cluster.SetNIC(t, "n1", "eth0")
	eventually(t, wait, func() string { return onManagementNIC(t, n1) })
	cluster.Switch.Ping(t, n1.Addr4())
	eventually(t, wait, func() string {
		n, err := cluster.HNode(t, "n1")
		if err != nil {
			return err.Error()
		}
		if got := n.Status.NetworkStatus[bridge].IPv4Address; !slices.Contains(got, n1.Addr4()+"/24") {
			return fmt.Sprintf("status bridge addresses %v", got)
		}
		return ""
	})
	eventually(t, wait, func() string {
		evs, err := cluster.Kube.CoreV1().Events("default").List(ctx(t), metav1.ListOptions{FieldSelector: "involvedObject.name=n1,reason=Applied"})
		if err != nil {
			return err.Error()
		}
		for _, e := range evs.Items {
			if strings.Contains(e.Message, "enslave eth0 to "+bridge) {
				return ""
			}
		}
		return fmt.Sprintf("no Applied event names enslaving eth0 (%d Applied events)", len(evs.Items))
	})
}

// The default NIC is only for objects the controller creates from now on:
// an edited NIC (n1) and one given at creation (n2) are kept.
func TestNewDefaultNICKeepsExistingObjects(t *testing.T) {
	nodes := fresh(t, "n1", "n2")
	enable(t, "eth1", nodes...)
	cluster.SetNIC(t, "n1", "eth0")
	cluster.SetClusterNetwork(t, true, "eth2")
	// The controller re-checks every node when the ClusterNetwork changes;
	// a new core Node's object shows it has seen the new default.
	newCoreNode(t, "n4")
	eventually(t, wait, func() string {
		n4, err := cluster.HNode(t, "n4")
		if err != nil || n4.Spec.Network.NIC != "eth2" {
			return fmt.Sprintf("n4: %v %+v, want created with eth2", err, n4)
		}
		return ""
	})
	for name, want := range map[string]string{"n1": "eth0", "n2": "eth1"} {
		n, err := cluster.HNode(t, name)
		if err != nil {
			t.Fatal(err)
		}
		if n.Spec.Network.NIC != want {
			t.Errorf("%s nic %q, want it kept as %q", name, n.Spec.Network.NIC, want)
		}
	}
}

// newCoreNode creates a core Node with no host behind it.
func newCoreNode(t *testing.T, name string) *corev1.Node {
	t.Helper()
	core, err := cluster.Kube.CoreV1().Nodes().Create(ctx(t), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return core
}
