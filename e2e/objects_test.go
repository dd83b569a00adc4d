package e2e

import (
	"fmt"
	"slices"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The lifecycle of Node objects while the network is on: they follow their
// core Nodes, and come back when deleted by hand.

// A core Node made again under its name (a reinstall) takes over the
// object's owner reference, else a garbage collector would delete it.
func TestReinstalledCoreNodeOwnsObject(t *testing.T) {
	fresh(t)
	cluster.SetClusterNetwork(t, true, "eth1")
	newCoreNode(t, "n4")
	eventually(t, wait, func() string {
		if _, err := cluster.HNode(t, "n4"); err != nil {
			return "n4: " + err.Error()
		}
		return ""
	})
	if err := cluster.Kube.CoreV1().Nodes().Delete(ctx(t), "n4", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	core := newCoreNode(t, "n4")
	eventually(t, wait, func() string {
		n4, err := cluster.HNode(t, "n4")
		if err != nil || len(n4.OwnerReferences) != 1 || n4.OwnerReferences[0].UID != core.UID {
			return fmt.Sprintf("n4: %v %+v, want owned by the new core Node %s", err, n4, core.UID)
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
	// A new core Node's object shows the controller has seen eth2.
	newCoreNode(t, "n4")
	eventually(t, wait, func() string {
		if n4, err := cluster.HNode(t, "n4"); err != nil || n4.Spec.Network.NIC != "eth2" {
			return fmt.Sprintf("n4: %v, want created with eth2", err)
		}
		return ""
	})
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
// its object without a stuck finalizer.
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
	eventually(t, wait, func() string {
		if _, err := cluster.HNode(t, "n2"); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("hnode n2 still there: %v", err)
		}
		return ""
	})
}
