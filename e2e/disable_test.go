package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// Disabling the network switches each node off (spec.network.type "") and
// deletes its Node object once its agent has torn down: the management NIC gets its addresses and default route back
// and the node still answers.
func TestDisableGivesNICsBack(t *testing.T) {
	n1 := fresh(t, "n1")[0]
	moveToManagementNIC(t, n1)
	cluster.SetClusterNetwork(t, false, "eth1")
	eventually(t, wait, func() string {
		if _, err := cluster.HNode(t, "n1"); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("hnode n1 still there: %v", err)
		}
		if _, ok := n1.Link(t, bridge); ok {
			return "bridge still on n1"
		}
		e0, _ := n1.Link(t, "eth0")
		if want := []string{n1.Addr4() + "/24", n1.Addr6() + "/64"}; !slices.Equal(e0.GlobalAddrs(), want) || !n1.HasDefaultRoute("eth0") || !e0.Up() {
			return fmt.Sprintf("eth0 addrs %v (want %v), default route %v, up %v", e0.GlobalAddrs(), want, n1.HasDefaultRoute("eth0"), e0.Up())
		}
		return ""
	})
	cluster.Switch.Ping(t, n1.Addr4())
}

// An agent that is down through the disable tears down when it returns,
// even when its object is gone for good, but not under a mistyped name.
func TestAgentDownThroughDisable(t *testing.T) {
	n3 := fresh(t, "n3")[0]
	enable(t, "eth1", n3)
	n3.Agent.Kill()
	cluster.SetClusterNetwork(t, false, "eth1")
	// The rollout switches n3 off and waits for its agent to report the
	// teardown before it deletes the object: no agent can...
	eventually(t, wait, func() string {
		n, err := cluster.HNode(t, "n3")
		if err != nil || n.Spec.Network.Type != v1alpha1.NetworkTypeNone || n.Annotations[v1alpha1.AnnotationTeardown] == "" {
			return fmt.Sprintf("n3 not switched off by the rollout: %v", err)
		}
		cn := controllerSaw(t)
		if r := cn.Status.Rollout; r == nil || !slices.Equal(r.Wave, []string{"n3"}) {
			return fmt.Sprintf("rollout %+v, want waiting for n3", r)
		}
		return ""
	})
	if msg := n3.PortOf(t, "eth1"); msg != "" {
		t.Errorf("n3's host changed with no agent running: %s", msg)
	}
	// ...until an impatient operator deletes it and removes the finalizer
	// by hand, so the returning agent finds no object at all.
	for _, args := range [][]string{
		{"delete", "hnode", "n3", "--wait=false"},
		{"patch", "hnode", "n3", "--type=merge", "-p", `{"metadata":{"finalizers":null}}`},
	} {
		if out, err := cluster.Kubectl(args...); err != nil {
			t.Fatalf("kubectl: %v: %s", err, out)
		}
	}
	eventually(t, wait, func() string {
		if _, err := cluster.HNode(t, "n3"); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("hnode n3 still there: %v", err)
		}
		return ""
	})
	// An agent with a mistyped name finds no object either, but no core
	// Node of that name: it must leave the host alone.
	typo, err := cluster.StartAgentAs("n3", "n3-typo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(typo.Stop) // the cluster stops only the agents it knows
	eventually(t, wait, func() string {
		if log, _ := os.ReadFile(typo.Log); !strings.Contains(string(log), "is --node-name right?") {
			return "the mistyped agent has not said it changes nothing"
		}
		return ""
	})
	typo.Stop()
	if msg := n3.PortOf(t, "eth1"); msg != "" {
		t.Errorf("an agent with a mistyped name changed the host: %s", msg)
	}
	if err := cluster.StartAgent("n3"); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() string {
		if _, ok := n3.Link(t, bridge); ok {
			return "bridge still on n3"
		}
		if e1, _ := n3.Link(t, "eth1"); e1.Master != "" || !e1.Up() {
			return fmt.Sprintf("n3 eth1 master %q, up %v", e1.Master, e1.Up())
		}
		return ""
	})
}
