package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// Enabling the VLAN network: the controller creates a Node object per core
// Node with the default NIC (one node at a time: e2e TestRolloutWaves), and
// the agent enslaves that NIC and reports it.
func TestEnable(t *testing.T) {
	nodes := fresh(t, "n1", "n2")
	cluster.SetClusterNetwork(t, true, "eth1")
	for _, name := range []string{"n1", "n2"} {
		eventually(t, wait, func() string {
			n, err := cluster.HNode(t, name)
			if err != nil {
				return err.Error()
			}
			if n.Spec.Network.Type != v1alpha1.NetworkTypeVLAN || n.Spec.Network.NIC != "eth1" {
				return fmt.Sprintf("%s spec %+v, want vlan on eth1", name, n.Spec.Network)
			}
			// No owner reference: a garbage collector must not delete it
			// with its core Node (kubectl delete node on a running node).
			if len(n.OwnerReferences) != 0 || n.Labels[v1alpha1.LabelSelected] != "true" {
				return fmt.Sprintf("%s owner references %v, labels %v, want none and selected", name, n.OwnerReferences, n.Labels)
			}
			return ""
		})
	}

	n1 := nodes[0]
	eventually(t, wait, func() string { return n1.PortOf(t, "eth1") })
	eventually(t, wait, func() string {
		return cluster.ConditionIs(t, "n1", v1alpha1.ConditionUplinkReady, metav1.ConditionTrue, "Ready")
	})
	n, err := cluster.HNode(t, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if n.Status.NetworkStatus[bridge].Index == 0 || n.Status.NetworkStatus["eth1"].Master != bridge {
		t.Errorf("networkStatus %+v lacks the bridge or eth1 as its port", n.Status.NetworkStatus)
	}
	if n.Status.UplinkStatus != v1alpha1.LinkUp {
		t.Errorf("uplinkStatus %q, want up", n.Status.UplinkStatus)
	}
	i := slices.IndexFunc(n.Status.NICs, func(c v1alpha1.NIC) bool { return c.Name == "eth0" })
	if i < 0 || !n.Status.NICs[i].UsedByManagement {
		t.Errorf("nics %+v: eth0 not listed as used by management", n.Status.NICs)
	}
	if !slices.Contains(n.Finalizers, "network.harvesterhci.io/agent") {
		t.Errorf("finalizers %v lack the agent's", n.Finalizers)
	}
	if c := meta.FindStatusCondition(n.Status.Conditions, v1alpha1.ConditionDHCPRulesReady); !nt.KernelHasBroute(t) && (c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "broute")) {
		t.Errorf("DHCPRulesReady %+v, want False naming the missing broute table on this kernel", c)
	}
	out, err := cluster.Kubectl("get", "hnodes", "-o", "wide")
	if err != nil || !strings.Contains(out, "eth1") || !strings.Contains(out, bridge) {
		t.Errorf("kubectl get hnodes -o wide:\n%s %v", out, err)
	}
}

// Once the host is as wanted, the agent's passes (every --resync 1s) find
// nothing to do and must not write status or Events.
func TestIdleNodeMakesNoAPIWrites(t *testing.T) {
	n1 := fresh(t, "n1")[0]
	enable(t, "eth1", n1)
	eventually(t, wait, func() string { return settled(t, n1) })
	n, err := cluster.HNode(t, "n1")
	if err != nil {
		t.Fatal(err)
	}
	// Five resync periods.
	w, err := cluster.Net.NetworkV1alpha1().Nodes().Watch(ctx(t), metav1.ListOptions{
		FieldSelector: "metadata.name=n1", ResourceVersion: n.ResourceVersion, TimeoutSeconds: ptr(int64(5)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for ev := range w.ResultChan() {
		t.Errorf("idle node was written: %s", ev.Type)
	}
}

// Admission checks an edited NIC against the NICs the agent reported.
func TestAdmissionRejectsUnknownNIC(t *testing.T) {
	n1 := fresh(t, "n1")[0]
	enable(t, "eth1", n1)
	err := updateNIC(t, "n1", "eth9")
	if err == nil || !strings.Contains(err.Error(), "usable NICs") || !strings.Contains(err.Error(), "eth1") {
		t.Errorf("update to eth9: %v, want a rejection listing the usable NICs", err)
	}
	if err := updateNIC(t, "n1", "eth/0"); err == nil {
		t.Error("a NIC name with '/' was accepted")
	}
}

// updateNIC tries once to set a Node object's NIC and returns the API
// server's answer; a write conflict with the agent's status is retried.
func updateNIC(t *testing.T, node, nic string) error {
	var err error
	eventually(t, wait, func() string {
		var n *v1alpha1.Node
		if n, err = cluster.HNode(t, node); err != nil {
			return err.Error()
		}
		n.Spec.Network.NIC = nic
		if _, err = cluster.Net.NetworkV1alpha1().Nodes().Update(ctx(t), n, metav1.UpdateOptions{}); apierrors.IsConflict(err) {
			return err.Error()
		}
		return ""
	})
	return err
}

func ptr[T any](v T) *T { return &v }
