package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	jsonpatch "github.com/evanphx/json-patch"
	corectl "github.com/rancher/wrangler/v3/pkg/generated/controllers/core/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	netctl "github.com/harvnet/harvnet/pkg/generated/controllers/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/metrics"
)

// DefaultNodeGoneGrace is how long a Node object outlives its core Node
// unless --node-gone-grace says otherwise: long enough for `kubectl delete
// node` and the kubelet registering again (a routine repair).
const DefaultNodeGoneGrace = 10 * time.Minute

// ReasonClusterNetworkMissing is the Warning Event on each Node object
// while the ClusterNetwork is missing.
const ReasonClusterNetworkMissing = "ClusterNetworkMissing"

// Options are the controller's settings.
type Options struct {
	// NodeGoneGrace is how long an object outlives its core Node.
	NodeGoneGrace time.Duration
	// Recorder records the Events on Node objects; nil for none.
	Recorder warner
	// Metrics counts handler runs and the objects cached; nil for none.
	Metrics *metrics.Controller
}

// Controller rolls the ClusterNetwork out to harvnet Node objects.
type Controller struct {
	coreNodes corectl.NodeController
	nodes     netctl.NodeController
	networks  netctl.ClusterNetworkController
	met       *metrics.Controller
	opts      Options
	now       func() time.Time

	mu sync.Mutex
	// expect holds the controller's own rollout writes until the cache
	// shows them (see rolloutInput.Unseen).
	expect map[string]expectation
	// missingTold: the nodes were told the ClusterNetwork is missing.
	missingTold bool
}

// expectation is a write the cache has not shown yet.
type expectation struct {
	uid        types.UID
	generation int64 // the object's generation after the write
	created    bool  // the write made the object
	deadline   time.Time
}

// seenIn says whether the cache's object o (nil: none) shows the write. A
// patched object missing from the cache was deleted after the write; a
// created one may not have reached the cache yet.
func (e expectation) seenIn(o *v1alpha1.Node) bool {
	if o == nil {
		return !e.created
	}
	return o.UID != e.uid || o.Generation >= e.generation
}

// expectFor bounds how long a write the cache never shows (an object
// deleted right after it was created, say) holds a place in a wave.
const expectFor = 10 * time.Second

// Register wires the handlers; the factories' Start runs them. Every event
// (a core Node, a Node object, the ClusterNetwork) comes down to one sync
// of the ClusterNetwork "vlan", so the rollout is decided in one place, one
// pass at a time.
func Register(ctx context.Context, coreNodes corectl.NodeController, nodes netctl.NodeController, networks netctl.ClusterNetworkController, opts Options) error {
	if opts.NodeGoneGrace <= 0 {
		opts.NodeGoneGrace = DefaultNodeGoneGrace
	}
	c := &Controller{
		coreNodes: coreNodes, nodes: nodes, networks: networks, met: metrics.OrController(opts.Metrics),
		opts: opts, now: time.Now, expect: map[string]expectation{},
	}
	// Created switched off only on a cluster with no Node objects (a new
	// install): where nodes have the network, a missing ClusterNetwork was
	// deleted, and recreating it switched off would tear every node down.
	objs, err := nodes.List(metav1.ListOptions{Limit: 1})
	if err != nil {
		return err
	}
	if len(objs.Items) == 0 {
		if err := c.createNetwork(); err != nil {
			return err
		}
	}
	kick := func(string) { networks.Enqueue(v1alpha1.ClusterNetworkVLAN) }
	coreNodes.OnChange(ctx, "harvnet-node", observed(c, kindCoreNode, func(name string, n *corev1.Node) (*corev1.Node, error) {
		kick(name)
		return n, nil
	}))
	nodes.OnChange(ctx, "harvnet-node-owner", observed(c, kindNode, func(name string, n *v1alpha1.Node) (*v1alpha1.Node, error) {
		c.observe(name, n)
		kick(name)
		return n, nil
	}))
	networks.OnChange(ctx, "harvnet-clusternetwork", observed(c, kindClusterNetwork, c.sync))
	return nil
}

func (c *Controller) createNetwork() error {
	_, err := c.networks.Create(&v1alpha1.ClusterNetwork{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterNetworkVLAN}})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// vlan returns the ClusterNetwork "vlan", nil when absent.
func (c *Controller) vlan() *v1alpha1.ClusterNetwork {
	cn, err := c.networks.Cache().Get(v1alpha1.ClusterNetworkVLAN)
	if err != nil {
		return nil
	}
	return cn
}

// sync plans the rollout from the caches and carries the plan out.
func (c *Controller) sync(name string, cn *v1alpha1.ClusterNetwork) (*v1alpha1.ClusterNetwork, error) {
	if name != v1alpha1.ClusterNetworkVLAN {
		return cn, nil
	}
	cores, err := c.coreNodes.Cache().List(labels.Everything())
	if err != nil {
		return cn, err
	}
	objs, err := c.nodes.Cache().List(labels.Everything())
	if err != nil {
		return cn, err
	}
	now := c.now()
	p := planRollout(rolloutInput{Network: cn, Cores: cores, Objects: objs, Unseen: c.unseen(objs, now), Now: now, Grace: c.opts.NodeGoneGrace})
	if p.RequeueAfter > 0 {
		c.networks.EnqueueAfter(name, p.RequeueAfter)
	}
	if p.CreateNetwork {
		return cn, c.createNetwork()
	}
	c.tellMissing(p.Missing, objs)
	var errs []error
	for _, o := range p.Ops {
		if err := c.apply(o); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", o.Kind, o.Node, err))
		}
	}
	c.rolloutGauges(p.Status)
	if p.Status != nil && !equality.Semantic.DeepEqual(&cn.Status, p.Status) {
		if err := c.patchStatus(cn, p.Status); err != nil {
			errs = append(errs, fmt.Errorf("status: %w", err))
		}
	}
	if len(errs) > 0 {
		return cn, fmt.Errorf("rollout: %v", errs)
	}
	return cn, nil
}

// rolloutGauges sets the rollout metrics from the status just planned
// (all 0 without a ClusterNetwork).
func (c *Controller) rolloutGauges(st *v1alpha1.ClusterNetworkStatus) {
	var r v1alpha1.RolloutStatus
	if st != nil && st.Rollout != nil {
		r = *st.Rollout
	}
	c.met.RolloutNodes.WithLabelValues("total").Set(float64(r.Total))
	c.met.RolloutNodes.WithLabelValues("updated").Set(float64(r.Updated))
	c.met.RolloutNodes.WithLabelValues("changing").Set(float64(len(r.Wave)))
	halted := 0.0
	if r.HaltedBy != "" {
		halted = 1
	}
	c.met.RolloutHalted.Set(halted)
}

// unseen names the nodes whose last rollout write the cache does not show
// yet, and forgets those it does (or that waited too long).
func (c *Controller) unseen(objs []*v1alpha1.Node, now time.Time) map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	byName := map[string]*v1alpha1.Node{}
	for _, o := range objs {
		byName[o.Name] = o
	}
	out := map[string]bool{}
	for name, e := range c.expect {
		if e.seenIn(byName[name]) || now.After(e.deadline) {
			delete(c.expect, name)
			continue
		}
		out[name] = true
	}
	return out
}

func (c *Controller) expectWrite(o *v1alpha1.Node, created bool) {
	e := expectation{uid: o.UID, generation: o.Generation, created: created, deadline: c.now().Add(expectFor)}
	c.mu.Lock()
	c.expect[o.Name] = e
	c.mu.Unlock()
}

// observe forgets the expectation of a node whose object the cache shows
// past the write. The Node handler calls it for every change of the
// object, so a state the sync (coalesced per key) never sees, like an
// object deleted right after the write, counts too.
func (c *Controller) observe(name string, o *v1alpha1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.expect[name]; ok && e.seenIn(o) {
		delete(c.expect, name)
	}
}

// tellMissing records, once while the ClusterNetwork is missing, a Warning
// on each Node object saying that nothing is switched on or off meanwhile.
func (c *Controller) tellMissing(missing []string, objs []*v1alpha1.Node) {
	if len(missing) == 0 {
		c.missingTold = false
		return
	}
	if c.missingTold {
		return
	}
	c.missingTold = true
	slog.Warn("the ClusterNetwork is missing; Node objects are left as they are", "name", v1alpha1.ClusterNetworkVLAN, "nodes", missing)
	if c.opts.Recorder == nil {
		return
	}
	for _, o := range objs {
		ref := &v1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: o.Name, UID: o.UID}}
		ref.SetGroupVersionKind(v1alpha1.SchemeGroupVersion.WithKind("Node"))
		c.opts.Recorder.Eventf(ref, corev1.EventTypeWarning, ReasonClusterNetworkMissing,
			"the ClusterNetwork %q is missing: this node keeps its network as it is and nothing is switched on or off; create it again (spec.enable: false switches the network off, through the staged rollout)", v1alpha1.ClusterNetworkVLAN)
	}
}

// apply carries out one op. A conflict or a vanished object is not an
// error: either is a newer state whose event brings another sync.
func (c *Controller) apply(o op) error {
	err := c.applyOp(o)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func (c *Controller) applyOp(o op) error {
	switch o.Kind {
	case opCreate:
		obj := &v1alpha1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: o.Node, Labels: map[string]string{v1alpha1.LabelSelected: "true"}},
			Spec:       v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: o.NIC}},
		}
		made, err := c.nodes.Create(obj)
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err == nil {
			c.expectWrite(made, true)
		}
		return err
	case opTurnOn:
		return c.patchRollout(o, map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{v1alpha1.AnnotationTeardown: nil}},
			"spec":     map[string]any{"network": map[string]any{"type": v1alpha1.NetworkTypeVLAN}},
		})
	case opTurnOff:
		return c.patchRollout(o, map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{v1alpha1.AnnotationTeardown: "rollout"}},
			"spec":     map[string]any{"network": map[string]any{"type": nil}},
		})
	case opDelete:
		return c.nodes.Delete(o.Node, &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &o.RV}})
	case opLabel:
		return c.patch(o.Node, "", map[string]any{"metadata": map[string]any{"labels": map[string]any{v1alpha1.LabelSelected: fmt.Sprint(o.Selected)}}})
	case opDropOwner:
		return c.patch(o.Node, o.RV, map[string]any{"metadata": map[string]any{"ownerReferences": o.Refs}})
	case opMarkGone:
		return c.patch(o.Node, o.RV, map[string]any{"metadata": map[string]any{"annotations": map[string]any{
			// Rounded up to the second the annotation holds, so the object
			// outlives its core Node by at least the grace period.
			v1alpha1.AnnotationCoreNodeGoneSince: c.now().UTC().Add(time.Second - 1).Truncate(time.Second).Format(time.RFC3339)}}})
	case opAdopt:
		return c.patch(o.Node, o.RV, map[string]any{"metadata": map[string]any{"annotations": map[string]any{
			v1alpha1.AnnotationCoreNodeGoneSince: nil}}})
	case opRelease:
		return c.release(o.Node)
	}
	return fmt.Errorf("unknown op %q", o.Kind)
}

// patchRollout writes a rollout change conditionally on the version the
// plan saw, and holds the node's place in the wave until the cache shows it.
func (c *Controller) patchRollout(o op, body map[string]any) error {
	made, err := c.patchObj(o.Node, o.RV, body)
	if err == nil {
		c.expectWrite(made, false)
	}
	return err
}

func (c *Controller) patch(name, rv string, body map[string]any) error {
	_, err := c.patchObj(name, rv, body)
	return err
}

// patchObj merge-patches a Node object instead of writing it whole: an
// Update from a binary that does not know a newer field (a rolling
// upgrade) would drop it. A resourceVersion makes the write conditional,
// as an Update would be.
func (c *Controller) patchObj(name, rv string, body map[string]any) (*v1alpha1.Node, error) {
	if rv != "" {
		md, _ := body["metadata"].(map[string]any)
		if md == nil {
			md = map[string]any{}
			body["metadata"] = md
		}
		md["resourceVersion"] = rv
	}
	data, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return c.nodes.Patch(name, types.MergePatchType, data)
}

// release deletes the object of a core Node gone for good. No agent is
// left to tear down and remove its finalizer, so the controller removes it.
func (c *Controller) release(name string) error {
	n, err := c.nodes.Cache().Get(name)
	if err != nil {
		return err
	}
	if slices.Contains(n.Finalizers, v1alpha1.AgentFinalizer) {
		rest := slices.DeleteFunc(slices.Clone(n.Finalizers), func(f string) bool { return f == v1alpha1.AgentFinalizer })
		if err := c.patch(name, n.ResourceVersion, map[string]any{"metadata": map[string]any{"finalizers": rest}}); err != nil {
			return err
		}
	}
	if n.DeletionTimestamp != nil {
		return nil
	}
	return c.nodes.Delete(name, &metav1.DeleteOptions{})
}

// patchStatus writes the ClusterNetwork's status as a merge patch from the
// cached status to next: only what changed is sent.
func (c *Controller) patchStatus(cn *v1alpha1.ClusterNetwork, next *v1alpha1.ClusterNetworkStatus) error {
	return patchNetworkStatus(c.networks, cn, next)
}

// patchNetworkStatus is the merge patch from cn's status to next, with
// cn's resourceVersion as its precondition. Both writers of the status
// (the rollout and the NAD summary) go through it, so neither drops a
// field the other wrote. A conflict is not an error: the newer object's
// event brings another sync.
func patchNetworkStatus(networks netctl.ClusterNetworkController, cn *v1alpha1.ClusterNetwork, next *v1alpha1.ClusterNetworkStatus) error {
	old, err := json.Marshal(map[string]any{"status": cn.Status})
	if err != nil {
		return err
	}
	nw, err := json.Marshal(map[string]any{"status": next})
	if err != nil {
		return err
	}
	p, err := jsonpatch.CreateMergePatch(old, nw)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		return err
	}
	m["metadata"] = map[string]any{"resourceVersion": cn.ResourceVersion}
	if p, err = json.Marshal(m); err != nil {
		return err
	}
	_, err = networks.Patch(cn.Name, types.MergePatchType, p, "status")
	if apierrors.IsConflict(err) {
		return nil // a newer object: its event brings another sync
	}
	return err
}
