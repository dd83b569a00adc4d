package main

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/generated/clientset/versioned/fake"
)

// The uninstall hook switches every enabled ClusterNetwork off and returns
// only once no harvnet Node object is left (each agent released its
// finalizer after restoring its host).
func TestRestoreWaitsForEveryNodeObject(t *testing.T) {
	cs := fake.NewSimpleClientset(
		&v1alpha1.ClusterNetwork{ObjectMeta: metav1.ObjectMeta{Name: "vlan"}, Spec: v1alpha1.ClusterNetworkSpec{Enable: true, DefaultPhysicalNIC: "eth1"}},
		&v1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
	)
	done := make(chan error, 1)
	go func() { done <- restore(context.Background(), cs, 10*time.Second, time.Millisecond) }()

	// The network goes off first, the NIC setting stays.
	deadline := time.Now().Add(5 * time.Second)
	for {
		cn, err := cs.NetworkV1alpha1().ClusterNetworks().Get(context.Background(), "vlan", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !cn.Spec.Enable {
			if cn.Spec.DefaultPhysicalNIC != "eth1" {
				t.Errorf("defaultPhysicalNIC %q after the patch, want eth1 kept", cn.Spec.DefaultPhysicalNIC)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("ClusterNetwork vlan still enabled")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("returned %v while n1's object exists", err)
	default:
	}
	// The agent on n1 restored its host and released its finalizer.
	if err := cs.NetworkV1alpha1().Nodes().Delete(context.Background(), "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("restore: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("restore did not return after the last object went")
	}
}

// An agent that never restores its host makes the hook fail, naming the
// node, instead of letting helm delete the agents underneath it.
func TestRestoreTimesOutNamingTheNodes(t *testing.T) {
	cs := fake.NewSimpleClientset(
		&v1alpha1.ClusterNetwork{ObjectMeta: metav1.ObjectMeta{Name: "vlan"}, Spec: v1alpha1.ClusterNetworkSpec{Enable: true}},
		&v1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2"}},
		&v1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}},
	)
	err := restore(context.Background(), cs, 50*time.Millisecond, time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "[n1 n2]") {
		t.Fatalf("restore = %v, want a timeout naming [n1 n2]", err)
	}
}

// A missing ClusterNetwork leaves the nodes as they are (the controller
// switches nothing off without an explicit disable); uninstalling is one,
// so the hook creates it switched off.
func TestRestoreCreatesMissingNetworkSwitchedOff(t *testing.T) {
	cs := fake.NewSimpleClientset(&v1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}})
	if err := restore(context.Background(), cs, 50*time.Millisecond, time.Millisecond); err == nil {
		t.Fatal("restore returned nil while n1's object exists")
	}
	cn, err := cs.NetworkV1alpha1().ClusterNetworks().Get(context.Background(), "vlan", metav1.GetOptions{})
	if err != nil || cn.Spec.Enable {
		t.Fatalf("ClusterNetwork vlan: %v %+v, want created switched off", err, cn)
	}
}
