package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// The lifecycle of Node objects while the network is on: they follow their
// core Nodes, and come back when deleted by hand.

// A core Node made again under its name (a reinstall, or kubectl delete
// node and the kubelet registering again) takes the object back as it is:
// same object, its spec kept, no owner reference for a garbage collector.
func TestReinstalledCoreNodeKeepsObject(t *testing.T) {
	fresh(t)
	cluster.SetClusterNetwork(t, true, "eth1")
	newCoreNode(t, "n4")
	var before *v1alpha1.Node
	eventually(t, wait, func() string {
		var err error
		if before, err = cluster.HNode(t, "n4"); err != nil {
			return "n4: " + err.Error()
		}
		return ""
	})
	if err := cluster.Kube.CoreV1().Nodes().Delete(ctx(t), "n4", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() string {
		n4, err := cluster.HNode(t, "n4")
		if err != nil || n4.Annotations[v1alpha1.AnnotationCoreNodeGoneSince] == "" {
			return fmt.Sprintf("n4: %v, want the object kept and marked gone", err)
		}
		return ""
	})
	newCoreNode(t, "n4")
	eventually(t, wait, func() string {
		n4, err := cluster.HNode(t, "n4")
		if err != nil || n4.UID != before.UID || len(n4.OwnerReferences) != 0 || n4.Annotations[v1alpha1.AnnotationCoreNodeGoneSince] != "" || n4.Spec.Network != before.Spec.Network {
			return fmt.Sprintf("n4: %v %+v, want the same object (uid %s) taken back, spec %+v", err, n4, before.UID, before.Spec.Network)
		}
		return ""
	})
}

// An object deleted by hand: its agent tears down and lets go, the
// controller makes a new object with today's default NIC, and the agent
// follows.
func TestDeletedObjectComesBack(t *testing.T) {
	n2 := fresh(t, "n2")[0]
	enable(t, "eth1", n2)
	cluster.SetClusterNetwork(t, true, "eth2")
	controllerSaw(t)
	if err := cluster.Net.NetworkV1alpha1().Nodes().Delete(ctx(t), "n2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() string {
		n, err := cluster.HNode(t, "n2")
		if err != nil || n.DeletionTimestamp != nil || n.Spec.Network.NIC != "eth2" {
			return fmt.Sprintf("n2: %v, want a new object with eth2", err)
		}
		if msg := n2.PortOf(t, "eth2"); msg != "" {
			return msg
		}
		if e1, _ := n2.Link(t, "eth1"); e1.Master != "" {
			return "eth1 still enslaved on n2"
		}
		return ""
	})
}

// Deleting a core Node (the node is gone, no agent will tear down) deletes
// its object without a stuck finalizer, once the core Node has been gone
// for --node-gone-grace (8 s here).
func TestCoreNodeDeletedDeletesObject(t *testing.T) {
	n2 := fresh(t, "n2")[0]
	enable(t, "eth1", n2)
	eventually(t, wait, func() string {
		if n, err := cluster.HNode(t, "n2"); err != nil || !slices.Contains(n.Finalizers, "network.harvesterhci.io/agent") {
			return fmt.Sprintf("n2 has not the agent's finalizer: %v", err)
		}
		return ""
	})
	n2.Agent.Stop()
	if err := cluster.Kube.CoreV1().Nodes().Delete(ctx(t), "n2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	eventually(t, wait, func() string {
		if _, err := cluster.HNode(t, "n2"); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("hnode n2 still there: %v", err)
		}
		return ""
	})
	if gone := time.Since(deleted); gone < nodeGoneGrace {
		t.Errorf("object deleted %v after its core Node, before the grace period of %v", gone, nodeGoneGrace)
	}
}
