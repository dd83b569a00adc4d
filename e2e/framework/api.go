package framework

import (
	"context"
	"os/exec"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/generated/clientset/versioned"
)

// What the e2e stories (on the host and in the VM) do through the API.

// Wait bounds every wait of a story step.
const Wait = 30 * time.Second

// Ctx is a per-call context that ends with the test.
func Ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// Eventually polls check until it returns "" or the deadline passes, and
// then fails with what check said last.
func Eventually(t *testing.T, deadline time.Duration, check func() string) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("after %v: %s", deadline, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// SetClusterNetwork enables or disables the VLAN network, retrying until the
// controller has created the ClusterNetwork and no write conflicts.
func SetClusterNetwork(t *testing.T, net versioned.Interface, enable bool, nic string) {
	t.Helper()
	Eventually(t, Wait, func() string {
		cn, err := net.NetworkV1alpha1().ClusterNetworks().Get(Ctx(t), v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{})
		if err != nil {
			return "ClusterNetwork vlan: " + err.Error() // the controller creates it
		}
		cn.Spec.Enable, cn.Spec.DefaultPhysicalNIC = enable, nic
		if _, err := net.NetworkV1alpha1().ClusterNetworks().Update(Ctx(t), cn, metav1.UpdateOptions{}); err != nil {
			return err.Error()
		}
		return ""
	})
}

// SetNIC edits a Node object's uplink as an admin would.
func SetNIC(t *testing.T, net versioned.Interface, node, nic string) {
	t.Helper()
	Eventually(t, Wait, func() string {
		n, err := net.NetworkV1alpha1().Nodes().Get(Ctx(t), node, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		n.Spec.Network.NIC = nic
		if _, err := net.NetworkV1alpha1().Nodes().Update(Ctx(t), n, metav1.UpdateOptions{}); err != nil {
			return err.Error() // a conflict with the agent's write: retry
		}
		return ""
	})
}

// CreateNAD creates a NetworkAttachmentDefinition in "default".
func CreateNAD(t *testing.T, nads *NADs, name, config string) {
	t.Helper()
	if err := nads.Create(Ctx(t), name, config); err != nil {
		t.Fatal(err)
	}
}

// Ping checks a node answers on its management address from the switch.
func Ping(t *testing.T, sw *Switch, addr string) {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "exec", sw.NS, "ping", "-c1", "-W2", addr).CombinedOutput(); err != nil {
		t.Errorf("the node does not answer on %s: %v: %s", addr, err, out)
	}
}
