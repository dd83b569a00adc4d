package framework

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/generated/clientset/versioned"
)

// What the e2e stories (on the host and in the VM) do through the API.

// Wait bounds every wait of a story step.
const Wait = 30 * time.Second

// Bridge is the bridge the agents make (their --bridge-name default).
const Bridge = "harvester-br0"

// Ctx is a per-call context that ends with the test.
func Ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// Clients are the admin's clients of a cluster, and what a story does
// through them.
type Clients struct {
	Kube kubernetes.Interface
	Net  versioned.Interface
	NADs *NADs
}

// HNode gets a harvnet Node object.
func (c *Clients) HNode(t *testing.T, name string) (*v1alpha1.Node, error) {
	return c.Net.NetworkV1alpha1().Nodes().Get(Ctx(t), name, metav1.GetOptions{})
}

// ConditionIs says "" when the node's condition of type typ has that status
// and, unless reason is "", that reason; else what it has instead.
func (c *Clients) ConditionIs(t *testing.T, node, typ string, status metav1.ConditionStatus, reason string) string {
	n, err := c.HNode(t, node)
	if err != nil {
		return err.Error()
	}
	got := meta.FindStatusCondition(n.Status.Conditions, typ)
	if got == nil {
		return fmt.Sprintf("%s has no %s condition, want %s/%s", node, typ, status, reason)
	}
	if got.Status != status || (reason != "" && got.Reason != reason) {
		return fmt.Sprintf("%s %s is %s/%s (%s), want %s/%s", node, typ, got.Status, got.Reason, got.Message, status, reason)
	}
	return ""
}

// SetClusterNetwork enables or disables the VLAN network, retrying until the
// controller has created the ClusterNetwork and no write conflicts.
func (c *Clients) SetClusterNetwork(t *testing.T, enable bool, nic string) {
	t.Helper()
	netnstest.Eventually(t, Wait, func() string {
		cn, err := c.Net.NetworkV1alpha1().ClusterNetworks().Get(Ctx(t), v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{})
		if err != nil {
			return "ClusterNetwork vlan: " + err.Error() // the controller creates it
		}
		if cn.Spec.Enable == enable && cn.Spec.DefaultPhysicalNIC == nic {
			return ""
		}
		cn.Spec.Enable, cn.Spec.DefaultPhysicalNIC = enable, nic
		if _, err := c.Net.NetworkV1alpha1().ClusterNetworks().Update(Ctx(t), cn, metav1.UpdateOptions{}); err != nil {
			return err.Error()
		}
		return ""
	})
}

// SetNIC edits a Node object's uplink as an admin would.
func (c *Clients) SetNIC(t *testing.T, node, nic string) {
	t.Helper()
	netnstest.Eventually(t, Wait, func() string {
		n, err := c.HNode(t, node)
		if err != nil {
			return err.Error()
		}
		n.Spec.Network.NIC = nic
		if _, err := c.Net.NetworkV1alpha1().Nodes().Update(Ctx(t), n, metav1.UpdateOptions{}); err != nil {
			return err.Error() // a conflict with the agent's write, or no status.nics yet: retry
		}
		return ""
	})
}

// SetUplink edits a Node object as an admin asking for an uplink of
// several NICs (and no spec.network.nic) and an MTU would.
func (c *Clients) SetUplink(t *testing.T, node string, uplink *v1alpha1.UplinkSpec, mtu int) {
	t.Helper()
	netnstest.Eventually(t, Wait, func() string {
		n, err := c.HNode(t, node)
		if err != nil {
			return err.Error()
		}
		n.Spec.Network.NIC, n.Spec.Network.Uplink, n.Spec.Network.MTU = "", uplink, mtu
		if _, err := c.Net.NetworkV1alpha1().Nodes().Update(Ctx(t), n, metav1.UpdateOptions{}); err != nil {
			return err.Error() // a conflict with the agent's write: retry
		}
		return ""
	})
}

// CreateNAD creates a NetworkAttachmentDefinition in "default".
func (c *Clients) CreateNAD(t *testing.T, name, config string) {
	t.Helper()
	if err := c.NADs.Create(Ctx(t), name, config); err != nil {
		t.Fatal(err)
	}
}
