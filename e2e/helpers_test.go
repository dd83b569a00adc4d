package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// fresh brings the shared cluster to where every test starts, whatever an
// earlier test (or a failed one) left: no nodes, the VLAN network disabled,
// and no NADs, Events, core Nodes or Node objects. Then it adds the named
// nodes: new namespaces, each with a running agent and fresh agent state.
func fresh(t *testing.T, names ...string) []*framework.RunningNode {
	t.Helper()
	// Agents go first: nothing must write while the objects are cleared,
	// and their hosts go with their namespaces, so none needs tearing down.
	for name := range cluster.Nodes {
		if err := cluster.RemoveNode(name); err != nil {
			t.Fatal(err)
		}
	}
	resetClusterNetwork(t)
	if err := cluster.NADs.DeleteAll(ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, err := range []error{
		cluster.Kube.CoreV1().Events("default").DeleteCollection(ctx(t), metav1.DeleteOptions{}, metav1.ListOptions{}),
		cluster.Kube.CoreV1().Nodes().DeleteCollection(ctx(t), metav1.DeleteOptions{}, metav1.ListOptions{}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// With no agent left, finalizers are lifted by hand.
	eventually(t, wait, func() string {
		list, err := cluster.Net.NetworkV1alpha1().Nodes().List(ctx(t), metav1.ListOptions{})
		if err != nil {
			return err.Error()
		}
		for _, n := range list.Items {
			if len(n.Finalizers) > 0 {
				_, _ = cluster.Net.NetworkV1alpha1().Nodes().Patch(ctx(t), n.Name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
			}
			if n.DeletionTimestamp == nil {
				_ = cluster.Net.NetworkV1alpha1().Nodes().Delete(ctx(t), n.Name, metav1.DeleteOptions{})
			}
		}
		if len(list.Items) > 0 {
			return fmt.Sprintf("%d Node objects left from an earlier test", len(list.Items))
		}
		return ""
	})
	var nodes []*framework.RunningNode
	for _, name := range names {
		n, err := cluster.AddNode(ctx(t), name)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// resetClusterNetwork makes the ClusterNetwork vlan switched off with eth1
// as default NIC and nothing else set (no selector, maxUnavailable or
// accepted rollbacks), creating it when a test deleted it.
func resetClusterNetwork(t *testing.T) {
	t.Helper()
	cns := cluster.Net.NetworkV1alpha1().ClusterNetworks()
	eventually(t, wait, func() string {
		_, err := cns.Get(ctx(t), v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			cn := &v1alpha1.ClusterNetwork{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterNetworkVLAN},
				Spec: v1alpha1.ClusterNetworkSpec{DefaultPhysicalNIC: "eth1"}}
			if _, err := cns.Create(ctx(t), cn, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return err.Error()
			}
			return ""
		}
		if err != nil {
			return err.Error()
		}
		p := fmt.Sprintf(`{"metadata":{"annotations":{%q:null}},"spec":{"enable":false,"defaultPhysicalNIC":"eth1","nodeSelector":null,"maxUnavailable":null}}`, v1alpha1.AnnotationAcceptRollback)
		if _, err := cns.Patch(ctx(t), v1alpha1.ClusterNetworkVLAN, types.MergePatchType, []byte(p), metav1.PatchOptions{}); err != nil {
			return err.Error()
		}
		return ""
	})
}

// controllerSaw waits until the controller has acted on the ClusterNetwork's
// current spec (status.observedGeneration) and returns it.
func controllerSaw(t *testing.T) *v1alpha1.ClusterNetwork {
	t.Helper()
	var cn *v1alpha1.ClusterNetwork
	eventually(t, wait, func() string {
		var err error
		if cn, err = cluster.Net.NetworkV1alpha1().ClusterNetworks().Get(ctx(t), v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{}); err != nil {
			return err.Error()
		}
		if cn.Status.ObservedGeneration != cn.Generation {
			return fmt.Sprintf("ClusterNetwork status.observedGeneration %d, generation %d", cn.Status.ObservedGeneration, cn.Generation)
		}
		return ""
	})
	return cn
}

// enable turns the VLAN network on with nic as the default NIC and waits
// until each node's agent has made nic its uplink and reports it ready.
func enable(t *testing.T, nic string, nodes ...*framework.RunningNode) {
	t.Helper()
	cluster.SetClusterNetwork(t, true, nic)
	for _, n := range nodes {
		eventually(t, wait, func() string { return n.PortOf(t, nic) })
		eventually(t, wait, func() string {
			return cluster.ConditionIs(t, n.Name, v1alpha1.ConditionUplinkReady, metav1.ConditionTrue, "Ready")
		})
	}
}

// onManagementNIC says "" when the node's management NIC eth0 is the
// bridge's port and its address and default route have moved onto the
// bridge, with eth1, the uplink before, released.
func onManagementNIC(t *testing.T, n *framework.RunningNode) string {
	if msg := n.PortOf(t, "eth0"); msg != "" {
		return msg
	}
	e1, _ := n.Link(t, "eth1")
	br, _ := n.Link(t, bridge)
	if e1.Master != "" || !slices.Contains(br.GlobalAddrs(), n.Addr4()+"/24") || !n.HasDefaultRoute(bridge) {
		return fmt.Sprintf("eth1 master %q, bridge addrs %v, default route on bridge %v", e1.Master, br.GlobalAddrs(), n.HasDefaultRoute(bridge))
	}
	return ""
}

// moveToManagementNIC enables the network on eth1, then makes the node's
// management NIC its uplink, and waits until it is.
func moveToManagementNIC(t *testing.T, n *framework.RunningNode) {
	t.Helper()
	enable(t, "eth1", n)
	cluster.SetNIC(t, n.Name, "eth0")
	eventually(t, wait, func() string { return onManagementNIC(t, n) })
	// The move is kept only once its probe window has passed: a test that
	// then stops the API server must not make the agent roll it back.
	eventually(t, reconcile.DefaultProbeWindow+wait, func() string {
		st, err := agentState(n)
		switch {
		case err != nil:
			return err.Error()
		case st.Pending != nil:
			return "the move to eth0 is still in its probe window"
		case st.RolledBack != nil:
			return fmt.Sprintf("the move to eth0 was rolled back: %+v", st.RolledBack)
		}
		return onManagementNIC(t, n)
	})
}

// agentState reads the state file of n's agent (the framework keeps each
// node's state directory in the cluster's).
func agentState(n *framework.RunningNode) (checkpoint.State, error) {
	st, _, err := checkpoint.ReadState(checkpoint.Path(filepath.Join(cluster.Dir, "state-"+n.Name)))
	return st, err
}

// settled says "" when no link of the node is still changing on its own:
// every address past duplicate address detection and the bridge, if any,
// operationally up with its IPv6 link-local address. Snapshots compare
// equal, and an agent has nothing left to report, only then.
func settled(t *testing.T, n *framework.RunningNode) string {
	for _, l := range n.Links(t) {
		linkLocal := false
		for _, a := range l.AddrInfo {
			if a.Tentative {
				return fmt.Sprintf("%s: %s's %s is still tentative", n.Name, l.Name, a.Local)
			}
			linkLocal = linkLocal || a.Scope == "link"
		}
		if l.Name == bridge && (l.OperState != "UP" || !linkLocal) {
			return fmt.Sprintf("%s: %s is %s, addresses %+v", n.Name, bridge, l.OperState, l.AddrInfo)
		}
	}
	return ""
}

// snapshot is what must not change when nothing should: links with their
// indexes, masters and addresses, and the routes.
func snapshot(t *testing.T, n *framework.RunningNode) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{{"-o", "link"}, {"-br", "addr"}, {"route"}, {"-6", "route"}} {
		b.WriteString(n.IP(t, args...))
	}
	return b.String()
}
