package controller

import (
	"context"
	"encoding/json"
	"slices"

	corectl "github.com/rancher/wrangler/v3/pkg/generated/controllers/core/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	netctl "github.com/harvnet/harvnet/pkg/generated/controllers/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/metrics"
)

// Controller keeps harvnet Node objects alongside core Nodes.
type Controller struct {
	coreNodes corectl.NodeController
	nodes     netctl.NodeController
	networks  netctl.ClusterNetworkController
	met       *metrics.Controller
}

// Register wires the handlers; the factories' Start runs them. It creates
// the ClusterNetwork "vlan", switched off, if there is none, so that an
// admin enables the network with `kubectl edit clusternetwork vlan`.
// m counts handler runs and the objects cached; nil for none.
func Register(ctx context.Context, coreNodes corectl.NodeController, nodes netctl.NodeController, networks netctl.ClusterNetworkController, m *metrics.Controller) error {
	c := &Controller{coreNodes: coreNodes, nodes: nodes, networks: networks, met: metrics.OrController(m)}
	_, err := networks.Create(&v1alpha1.ClusterNetwork{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterNetworkVLAN}})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	coreNodes.OnChange(ctx, "harvnet-node", observed(c, kindCoreNode, c.onCoreNode))
	nodes.OnChange(ctx, "harvnet-node-owner", observed(c, kindNode, c.onNode))
	networks.OnChange(ctx, "harvnet-clusternetwork", observed(c, kindClusterNetwork, c.onClusterNetwork))
	return nil
}

// vlan returns the ClusterNetwork "vlan", nil when absent.
func (c *Controller) vlan() *v1alpha1.ClusterNetwork {
	cn, err := c.networks.Cache().Get(v1alpha1.ClusterNetworkVLAN)
	if err != nil {
		return nil
	}
	return cn
}

// onClusterNetwork re-checks every core Node and every Node object when
// the network is switched on or off.
func (c *Controller) onClusterNetwork(name string, cn *v1alpha1.ClusterNetwork) (*v1alpha1.ClusterNetwork, error) {
	if name != v1alpha1.ClusterNetworkVLAN {
		return cn, nil
	}
	cores, err := c.coreNodes.Cache().List(labels.Everything())
	if err != nil {
		return cn, err
	}
	for _, n := range cores {
		c.coreNodes.Enqueue(n.Name)
	}
	objs, err := c.nodes.Cache().List(labels.Everything())
	if err != nil {
		return cn, err
	}
	for _, n := range objs {
		c.nodes.Enqueue(n.Name)
	}
	return cn, nil
}

func (c *Controller) onCoreNode(name string, core *corev1.Node) (*corev1.Node, error) {
	if core == nil || core.DeletionTimestamp != nil {
		return core, c.remove(name, true)
	}
	cn := c.vlan()
	if cn == nil || !cn.Spec.Enable {
		return core, nil // onNode deletes existing objects
	}
	obj, err := c.nodes.Cache().Get(name)
	switch {
	case err == nil && obj.DeletionTimestamp == nil:
		// Its spec is the user's now; only a core Node deleted and made
		// again under the same name (a reinstall) needs the owner fixed,
		// or the garbage collector deletes the object for the old owner.
		if refs, changed := ownerRefs(obj.OwnerReferences, core); changed {
			err = c.patchMeta(obj, map[string]any{"ownerReferences": refs})
		}
		return core, err
	case err == nil:
		return core, nil // going: onNode brings this back here once it is gone
	case !apierrors.IsNotFound(err):
		return core, err
	}
	obj = &v1alpha1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{ownerRef(core)}},
		Spec:       v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: cn.Spec.DefaultPhysicalNIC}},
	}
	if _, err := c.nodes.Create(obj); err != nil && !apierrors.IsAlreadyExists(err) {
		return core, err
	}
	return core, nil
}

func ownerRef(core *corev1.Node) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: core.Name, UID: core.UID}
}

// ownerRefs returns refs with the reference to a core Node of that name
// pointing at core, and whether that changed anything. Other owners stay.
func ownerRefs(refs []metav1.OwnerReference, core *corev1.Node) ([]metav1.OwnerReference, bool) {
	out := make([]metav1.OwnerReference, 0, len(refs)+1)
	found, changed := false, false
	for _, r := range refs {
		if r.APIVersion == "v1" && r.Kind == "Node" {
			if found || r.Name != core.Name || r.UID != core.UID {
				changed = true
				continue
			}
			found = true
		}
		out = append(out, r)
	}
	if !found {
		out, changed = append(out, ownerRef(core)), true
	}
	return out, changed
}

// onNode deletes objects whose core Node is gone or whose network is off.
func (c *Controller) onNode(name string, n *v1alpha1.Node) (*v1alpha1.Node, error) {
	if n == nil {
		// Deleted by hand while the network is on, or gone after a
		// deletion onCoreNode saw pending: the core Node decides anew.
		c.coreNodes.Enqueue(name)
		return nil, nil
	}
	_, err := c.coreNodes.Cache().Get(name)
	coreGone := apierrors.IsNotFound(err)
	if err != nil && !coreGone {
		return n, err
	}
	if cn := c.vlan(); coreGone || cn == nil || !cn.Spec.Enable {
		return n, c.remove(name, coreGone)
	}
	return n, nil
}

// remove deletes a Node object. Without a core Node there is no agent to
// tear down and remove its finalizer, so the controller removes it.
func (c *Controller) remove(name string, coreGone bool) error {
	n, err := c.nodes.Cache().Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if coreGone && slices.Contains(n.Finalizers, v1alpha1.AgentFinalizer) {
		rest := slices.DeleteFunc(slices.Clone(n.Finalizers), func(f string) bool { return f == v1alpha1.AgentFinalizer })
		if err := c.patchMeta(n, map[string]any{"finalizers": rest}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	if n.DeletionTimestamp != nil {
		return nil
	}
	if err := c.nodes.Delete(name, &metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// patchMeta merge-patches metadata fields of a Node object instead of
// writing the whole object back: an Update from a binary that does not know
// a newer field (a rolling upgrade) would drop it. The resourceVersion in
// the patch keeps the write conditional, as an Update would be.
func (c *Controller) patchMeta(n *v1alpha1.Node, fields map[string]any) error {
	meta := map[string]any{"resourceVersion": n.ResourceVersion}
	for k, v := range fields {
		meta[k] = v
	}
	data, err := json.Marshal(map[string]any{"metadata": meta})
	if err != nil {
		return err
	}
	_, err = c.nodes.Patch(n.Name, types.MergePatchType, data)
	return err
}
