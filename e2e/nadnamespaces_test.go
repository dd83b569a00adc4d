package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/e2e/framework"
	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// The ClusterNetwork's nadNamespaces: a NAD outside it does not reach any
// uplink and gets one Warning Event from the controller; allowing its
// namespace brings its VLAN in, and taking it out again takes it away. A
// broken NAD gets exactly one Warning, from the controller, not one per
// node's agent.
func TestNADNamespaceAllowList(t *testing.T) {
	nodes := fresh(t, "n1", "n2")
	enable(t, "eth1", nodes...)
	t.Cleanup(func() { setNADNamespaces(t) })
	setNADNamespaces(t, "vms")
	cluster.CreateNAD(t, "outside", `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":100}`)
	cluster.CreateNAD(t, "broken", `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":5000}`)

	eventually(t, wait, func() string {
		return controllerWarning(t, "outside", "NamespaceNotAllowed", "namespace default is not in ClusterNetwork vlan's spec.nadNamespaces [vms]")
	})
	eventually(t, wait, func() string { return controllerWarning(t, "broken", "InvalidConfig", "5000") })
	for _, n := range nodes {
		eventually(t, wait, func() string { return vlansAre(t, n, nil) })
	}

	setNADNamespaces(t, "vms", "default")
	for _, n := range nodes {
		eventually(t, wait, func() string { return vlansAre(t, n, []int{100}) })
	}
	setNADNamespaces(t, "vms")
	for _, n := range nodes {
		eventually(t, wait, func() string { return vlansAre(t, n, nil) })
	}
	// One report each, from the controller only: the two agents say nothing.
	evs, err := cluster.Kube.CoreV1().Events("default").List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.InvolvedObject.Kind == "NetworkAttachmentDefinition" && (e.Source.Component != "harvnet-controller" || e.Count > 1) {
			t.Errorf("event on NAD %s from %q, count %d: %s", e.InvolvedObject.Name, e.Source.Component, e.Count, e.Message)
		}
	}
}

// setNADNamespaces sets the ClusterNetwork's allow-list, retrying conflicts.
func setNADNamespaces(t *testing.T, ns ...string) {
	t.Helper()
	eventually(t, wait, func() string {
		cn, err := cluster.Net.NetworkV1alpha1().ClusterNetworks().Get(ctx(t), v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		cn.Spec.NADNamespaces = ns
		if _, err := cluster.Net.NetworkV1alpha1().ClusterNetworks().Update(ctx(t), cn, metav1.UpdateOptions{}); err != nil {
			return err.Error()
		}
		return ""
	})
}

// controllerWarning says "" when the NAD in "default" has a Warning Event
// from harvnet-controller with that reason and a message containing says.
func controllerWarning(t *testing.T, nad, reason, says string) string {
	evs, err := cluster.Kube.CoreV1().Events("default").List(ctx(t), metav1.ListOptions{FieldSelector: "involvedObject.name=" + nad})
	if err != nil {
		return err.Error()
	}
	for _, e := range evs.Items {
		if e.Type == corev1.EventTypeWarning && e.Reason == reason && e.Source.Component == "harvnet-controller" && strings.Contains(e.Message, says) {
			return ""
		}
	}
	return fmt.Sprintf("no %s Warning from harvnet-controller on NAD %s saying %q (%d events)", reason, nad, says, len(evs.Items))
}

// vlansAre says "" when the node applies exactly want; on a kernel without
// VLAN filtering, when VLANsReady names exactly the VLANs it wanted.
func vlansAre(t *testing.T, n *framework.RunningNode, want []int) string {
	node, err := cluster.HNode(t, n.Name)
	if err != nil {
		return err.Error()
	}
	c := meta.FindStatusCondition(node.Status.Conditions, v1alpha1.ConditionVLANsReady)
	if c == nil {
		return n.Name + " has no VLANsReady"
	}
	if len(want) == 0 {
		if c.Status != metav1.ConditionTrue || len(node.Status.NetworkIDs) > 0 {
			return fmt.Sprintf("%s VLANsReady %s %q, networkIDs %v; want none wanted", n.Name, c.Status, c.Message, node.Status.NetworkIDs)
		}
		return ""
	}
	if nt.KernelHasVLANFiltering(t) {
		if !slices.Equal(node.Status.NetworkIDs, want) {
			return fmt.Sprintf("%s networkIDs %v, want %v", n.Name, node.Status.NetworkIDs, want)
		}
		return ""
	}
	if c.Status != metav1.ConditionFalse || c.Reason != "Unsupported" || !strings.Contains(c.Message, fmt.Sprint(want)) {
		return fmt.Sprintf("%s VLANsReady %s/%s %q does not name %v", n.Name, c.Status, c.Reason, c.Message, want)
	}
	return ""
}
