package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// The staged rollout (issue 9) and the node selector (issue 10) against
// the real API server, agents and hosts.

// waveWatch records, from a watch of the Node objects (every version, in
// the API server's order, not a poll that could miss one), the largest
// number of nodes changing at once: an object the agent has not reported
// Ready (or a terminal reason) on at its current generation, or one being
// deleted before its agent reported the teardown (see nodeSettled).
type waveWatch struct {
	mu       sync.Mutex
	objs     map[string]*v1alpha1.Node
	max      int
	maxAt    []string
	created  []string
	deleted  []string
	history  []*v1alpha1.Node
	stop     func()
	finished chan struct{}
}

func watchWaves(t *testing.T) *waveWatch {
	t.Helper()
	list, err := cluster.Net.NetworkV1alpha1().Nodes().List(ctx(t), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(context.Background())
	w, err := cluster.Net.NetworkV1alpha1().Nodes().Watch(c, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ww := &waveWatch{objs: map[string]*v1alpha1.Node{}, finished: make(chan struct{})}
	for i := range list.Items {
		ww.objs[list.Items[i].Name] = &list.Items[i]
	}
	ww.stop = func() { cancel(); w.Stop(); <-ww.finished }
	t.Cleanup(ww.stop)
	go func() {
		defer close(ww.finished)
		for ev := range w.ResultChan() {
			n, ok := ev.Object.(*v1alpha1.Node)
			if !ok {
				continue // a watch error: the test's own checks time out then
			}
			ww.mu.Lock()
			ww.history = append(ww.history, n)
			switch ev.Type {
			case watch.Added:
				ww.created = append(ww.created, n.Name)
				ww.objs[n.Name] = n
			case watch.Modified:
				ww.objs[n.Name] = n
			case watch.Deleted:
				ww.deleted = append(ww.deleted, n.Name)
				delete(ww.objs, n.Name)
			}
			var changing []string
			for name, o := range ww.objs {
				if !nodeSettled(o) {
					changing = append(changing, name)
				}
			}
			if len(changing) > ww.max {
				slices.Sort(changing)
				ww.max, ww.maxAt = len(changing), changing
			}
			ww.mu.Unlock()
		}
	}()
	return ww
}

// nodeSettled is the test's own reading of "the agent is done with this
// spec": reported on the current generation, every condition True or
// False only for what this host's kernel lacks.
//
// An object being deleted is settled only if the controller deleted it
// after its agent reported the teardown (type "", reported on the
// generation before the deletion, which bumps it): the host has nothing in
// flight then, the agent only lifts its finalizer, and the controller
// rightly starts the next node meanwhile.
func nodeSettled(o *v1alpha1.Node) bool {
	gen := o.Generation
	if o.DeletionTimestamp != nil {
		if o.Spec.Network.Type != v1alpha1.NetworkTypeNone {
			return false
		}
		gen--
	}
	if o.Status.ObservedGeneration != gen || meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionReady) == nil {
		return false
	}
	for _, c := range o.Status.Conditions {
		if c.Status != metav1.ConditionTrue && c.Reason != "Unsupported" {
			return false
		}
	}
	return true
}

// saw says whether any version the watch delivered matches.
func (ww *waveWatch) saw(match func(*v1alpha1.Node) bool) bool {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	return slices.ContainsFunc(ww.history, match)
}

func (ww *waveWatch) result() (max int, at, created, deleted []string) {
	ww.mu.Lock()
	defer ww.mu.Unlock()
	return ww.max, slices.Clone(ww.maxAt), slices.Clone(ww.created), slices.Clone(ww.deleted)
}

// rolloutIs says "" when the ClusterNetwork's status shows the summary,
// for its current spec.
func rolloutIs(t *testing.T, summary string) string {
	cn, err := cluster.Net.NetworkV1alpha1().ClusterNetworks().Get(ctx(t), v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	if cn.Status.ObservedGeneration != cn.Generation || cn.Status.Rollout == nil || cn.Status.Rollout.Summary != summary {
		return fmt.Sprintf("ClusterNetwork status %+v (generation %d), want rollout %q", cn.Status, cn.Generation, summary)
	}
	return ""
}

func patchNetwork(t *testing.T, patch string) {
	t.Helper()
	if _, err := cluster.Net.NetworkV1alpha1().ClusterNetworks().Patch(ctx(t), v1alpha1.ClusterNetworkVLAN, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Enabling on three nodes goes one node at a time (maxUnavailable
// defaults to 1), each node's agent reporting before the next node gets
// its object; disabling with maxUnavailable 2 switches at most two off at
// once and deletes each object once its agent has torn down.
func TestRolloutWaves(t *testing.T) {
	nodes := fresh(t, "n1", "n2", "n3")
	ww := watchWaves(t)
	cluster.SetClusterNetwork(t, true, "eth1")
	for _, n := range nodes {
		eventually(t, wait, func() string { return n.PortOf(t, "eth1") })
	}
	eventually(t, wait, func() string { return rolloutIs(t, "3/3 done") })
	max, at, created, _ := ww.result()
	ww.stop()
	if max != 1 || !slices.Equal(created, []string{"n1", "n2", "n3"}) {
		t.Errorf("enable: at most %d nodes changing at once (%v), objects created %v; want 1 and n1, n2, n3", max, at, created)
	}
	out, err := cluster.Kubectl("get", "clusternetwork", "vlan")
	if err != nil || !strings.Contains(out, "ROLLOUT") || !strings.Contains(out, "3/3 done") {
		t.Errorf("kubectl get clusternetwork:\n%s %v", out, err)
	}
	cn := controllerSaw(t)
	if c := meta.FindStatusCondition(cn.Status.Conditions, v1alpha1.ConditionRolloutProgressing); c == nil || c.Status != metav1.ConditionFalse || c.Reason != "Done" {
		t.Errorf("RolloutProgressing %+v, want False/Done", c)
	}

	ww = watchWaves(t)
	patchNetwork(t, `{"spec":{"enable":false,"maxUnavailable":2}}`)
	for _, n := range nodes {
		eventually(t, wait, func() string {
			if _, err := cluster.HNode(t, n.Name); !apierrors.IsNotFound(err) {
				return fmt.Sprintf("hnode %s still there: %v", n.Name, err)
			}
			if _, ok := n.Link(t, bridge); ok {
				return "bridge still on " + n.Name
			}
			return ""
		})
	}
	eventually(t, wait, func() string { return rolloutIs(t, "3/3 done") })
	max, at, _, deleted := ww.result()
	slices.Sort(deleted)
	if max > 2 || max == 0 || !slices.Equal(deleted, []string{"n1", "n2", "n3"}) {
		t.Errorf("disable: at most %d nodes changing at once (%v), deleted %v; want 1 or 2 and every node", max, at, deleted)
	}
}

// A node whose agent rolled its change back halts the rollout: the nodes
// after it get nothing, the ClusterNetwork names the node and why, and
// accepting the rollback lets it go on. n2 has no agent here: the test
// writes its status as an agent that rolled back would (issue 9's agent
// side reports status.rollback and Ready reason RolledBack).
func TestRolloutHaltsOnRollback(t *testing.T) {
	nodes := fresh(t, "n1", "n3")
	newCoreNode(t, "n2")
	cluster.SetClusterNetwork(t, true, "eth1")
	eventually(t, wait, func() string { return nodes[0].PortOf(t, "eth1") })
	var n2 *v1alpha1.Node
	eventually(t, wait, func() string {
		var err error
		if n2, err = cluster.HNode(t, "n2"); err != nil {
			return "n2: " + err.Error()
		}
		return ""
	})
	n2.Status = v1alpha1.NodeStatus{
		ObservedGeneration: n2.Generation,
		Rollback:           &v1alpha1.RollbackStatus{Generation: n2.Generation, Probe: "gateway 10.50.0.254 (arp)", Step: v1alpha1.ConditionUplinkReady, Time: metav1.Now()},
		Conditions: []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonRolledBack,
			Message: "UplinkReady: rolled back", LastTransitionTime: metav1.Now()}},
	}
	if _, err := cluster.Net.NetworkV1alpha1().Nodes().UpdateStatus(ctx(t), n2, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var halted *metav1.Condition
	eventually(t, wait, func() string {
		cn := controllerSaw(t)
		halted = meta.FindStatusCondition(cn.Status.Conditions, v1alpha1.ConditionRolloutHalted)
		if halted == nil || halted.Status != metav1.ConditionTrue || cn.Status.Rollout == nil || cn.Status.Rollout.HaltedBy != "n2" {
			return fmt.Sprintf("RolloutHalted %+v, rollout %+v; want halted by n2", halted, cn.Status.Rollout)
		}
		return ""
	})
	accept := fmt.Sprintf("%s=n2/%d", v1alpha1.AnnotationAcceptRollback, n2.Generation)
	for _, want := range []string{"node n2 rolled back", "gateway 10.50.0.254 (arp)", accept} {
		if !strings.Contains(halted.Message, want) {
			t.Errorf("RolloutHalted message lacks %q: %s", want, halted.Message)
		}
	}
	// The pass that reported the halt is the one that would have made
	// n3's object: it made none, and n3's host is untouched.
	if _, err := cluster.HNode(t, "n3"); !apierrors.IsNotFound(err) {
		t.Errorf("hnode n3 while halted: %v, want none", err)
	}
	if _, ok := nodes[1].Link(t, bridge); ok {
		t.Error("n3 has a bridge while the rollout is halted")
	}
	out, err := cluster.Kubectl("get", "clusternetwork", "vlan")
	if err != nil || !strings.Contains(out, "1/3 halted") {
		t.Errorf("kubectl get clusternetwork:\n%s %v", out, err)
	}
	eventually(t, wait, func() string {
		return controllerMetrics(t, map[string]float64{"harvnet_controller_rollout_halted": 1, `harvnet_controller_rollout_nodes{state="updated"}`: 1})
	})

	if out, err := cluster.Kubectl("annotate", "clusternetwork", "vlan", accept, "--overwrite"); err != nil {
		t.Fatalf("kubectl annotate: %v: %s", err, out)
	}
	eventually(t, wait, func() string { return nodes[1].PortOf(t, "eth1") })
	eventually(t, wait, func() string {
		cn := controllerSaw(t)
		if c := meta.FindStatusCondition(cn.Status.Conditions, v1alpha1.ConditionRolloutHalted); c == nil || c.Status != metav1.ConditionFalse {
			return fmt.Sprintf("RolloutHalted %+v, want False", c)
		}
		return rolloutIs(t, "2/3 done")
	})
	eventually(t, wait, func() string {
		return controllerMetrics(t, map[string]float64{"harvnet_controller_rollout_halted": 0, `harvnet_controller_rollout_nodes{state="total"}`: 3})
	})
}

// controllerMetrics says "" when each series of the controller's /metrics
// has the value wanted.
func controllerMetrics(t *testing.T, want map[string]float64) string {
	text, err := cluster.ScrapeController()
	if err != nil {
		return err.Error()
	}
	s, err := parseScrape(text)
	if err != nil {
		return err.Error()
	}
	for series, v := range want {
		if got, ok := s.samples[series]; !ok || got != v {
			return fmt.Sprintf("%s = %v (present %v), want %v", series, got, ok, v)
		}
	}
	return ""
}

// The selector is a full label selector: with matchExpressions, a witness
// node and a node outside the tiers get no object and keep their host as
// it is; a node that starts to match gets the network, and one that stops
// matching is relabelled, switched off and its object deleted.
func TestNodeSelectorMatchExpressions(t *testing.T) {
	nodes := fresh(t, "n1", "n2", "n3")
	label(t, "n1", `{"tier":"compute"}`)
	label(t, "n2", `{"tier":"compute","node-role.kubernetes.io/witness":"true"}`)
	patchNetwork(t, `{"spec":{"enable":true,"maxUnavailable":"100%","nodeSelector":{"matchExpressions":[
		{"key":"node-role.kubernetes.io/witness","operator":"DoesNotExist"},
		{"key":"tier","operator":"In","values":["compute","storage"]}]}}}`)
	eventually(t, wait, func() string { return nodes[0].PortOf(t, "eth1") })
	eventually(t, wait, func() string { return rolloutIs(t, "3/3 done") })
	for _, n := range nodes[1:] {
		if _, err := cluster.HNode(t, n.Name); !apierrors.IsNotFound(err) {
			t.Errorf("hnode %s: %v, want none: it is not selected", n.Name, err)
		}
		if _, ok := n.Link(t, bridge); ok {
			t.Errorf("%s has a bridge though it is not selected", n.Name)
		}
	}
	out, err := cluster.Kubectl("get", "hnodes")
	if err != nil || !strings.Contains(out, "SELECTED") || !strings.Contains(out, "true") {
		t.Errorf("kubectl get hnodes:\n%s %v", out, err)
	}

	label(t, "n3", `{"tier":"storage"}`)
	eventually(t, wait, func() string { return nodes[2].PortOf(t, "eth1") })

	ww := watchWaves(t)
	label(t, "n1", `{"tier":null}`)
	eventually(t, wait, func() string {
		if _, err := cluster.HNode(t, "n1"); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("hnode n1 still there: %v", err)
		}
		if _, ok := nodes[0].Link(t, bridge); ok {
			return "bridge still on n1"
		}
		if e1, _ := nodes[0].Link(t, "eth1"); e1.Master != "" {
			return "eth1 still enslaved on n1"
		}
		return ""
	})
	// On its way out n1's object said it is not selected and was switched
	// off by the rollout, before it was deleted.
	if !ww.saw(func(n *v1alpha1.Node) bool {
		return n.Name == "n1" && n.Labels[v1alpha1.LabelSelected] == "false" && n.Spec.Network.Type == v1alpha1.NetworkTypeNone &&
			n.Annotations[v1alpha1.AnnotationTeardown] != "" && n.DeletionTimestamp == nil
	}) {
		t.Error("no version of n1 was labelled not selected and switched off by the rollout before its deletion")
	}
	n3, err := cluster.HNode(t, "n3")
	if err != nil || n3.Labels[v1alpha1.LabelSelected] != "true" {
		t.Errorf("n3: %v, want still selected", err)
	}
}

// label merge-patches a core Node's labels.
func label(t *testing.T, node, labels string) {
	t.Helper()
	if _, err := cluster.Kube.CoreV1().Nodes().Patch(ctx(t), node, types.MergePatchType, []byte(`{"metadata":{"labels":`+labels+`}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// `kubectl delete node` on a running node (a routine repair): its object,
// its spec (an admin's NIC choice) and its host network stay, and the core
// Node registered again takes the object back as it is.
func TestCoreNodeDeleteKeepsNetwork(t *testing.T) {
	n1 := fresh(t, "n1")[0]
	enable(t, "eth1", n1)
	cluster.SetNIC(t, "n1", "eth2")
	eventually(t, wait, func() string { return n1.PortOf(t, "eth2") })
	before, err := cluster.HNode(t, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.Kube.CoreV1().Nodes().Delete(ctx(t), "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() string {
		n, err := cluster.HNode(t, "n1")
		if err != nil || n.Annotations[v1alpha1.AnnotationCoreNodeGoneSince] == "" {
			return fmt.Sprintf("n1: %v, want kept and marked gone", err)
		}
		return ""
	})
	if msg := n1.PortOf(t, "eth2"); msg != "" {
		t.Errorf("n1's network changed when its core Node was deleted: %s", msg)
	}
	// The kubelet registers the node again: a new core Node, a new UID.
	if _, err := cluster.Kube.CoreV1().Nodes().Create(ctx(t), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() string {
		n, err := cluster.HNode(t, "n1")
		if err != nil || n.UID != before.UID || n.Annotations[v1alpha1.AnnotationCoreNodeGoneSince] != "" || n.Spec.Network.NIC != "eth2" || n.DeletionTimestamp != nil {
			return fmt.Sprintf("n1: %v %+v, want object %s taken back with nic eth2", err, n, before.UID)
		}
		return ""
	})
	if msg := n1.PortOf(t, "eth2"); msg != "" {
		t.Errorf("n1's network changed across delete and register: %s", msg)
	}
	if e1, _ := n1.Link(t, "eth1"); e1.Master != "" {
		t.Errorf("eth1 enslaved again on n1: the default NIC came back")
	}
}

// Deleting the ClusterNetwork by mistake, and restarting the controller
// after, tears nothing down: every object, spec and host stays, each node
// is told with a Warning, and the controller does not recreate it
// switched off. Created again enabled, nothing changes either.
func TestClusterNetworkDeleteTearsNothingDown(t *testing.T) {
	nodes := fresh(t, "n1", "n2")
	enable(t, "eth1", nodes...)
	eventually(t, wait, func() string { return rolloutIs(t, "2/2 done") })
	before := map[string]*v1alpha1.Node{}
	for _, n := range nodes {
		o, err := cluster.HNode(t, n.Name)
		if err != nil {
			t.Fatal(err)
		}
		before[n.Name] = o
	}
	if err := cluster.Net.NetworkV1alpha1().ClusterNetworks().Delete(ctx(t), v1alpha1.ClusterNetworkVLAN, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() string { return missingWarnings(t, 1) })
	unchanged := func(when string) {
		t.Helper()
		for _, n := range nodes {
			o, err := cluster.HNode(t, n.Name)
			if err != nil || o.UID != before[n.Name].UID || o.Generation != before[n.Name].Generation || o.DeletionTimestamp != nil {
				t.Errorf("%s: hnode %s %v %+v, want unchanged", when, n.Name, err, o)
			}
			if msg := n.PortOf(t, "eth1"); msg != "" {
				t.Errorf("%s: %s", when, msg)
			}
		}
	}
	unchanged("after the delete")

	cluster.Controller.Stop()
	if err := cluster.StartController(); err != nil {
		t.Fatal(err)
	}
	// The new controller has synced once it has told the nodes again.
	eventually(t, time.Minute, func() string { return missingWarnings(t, 2) })
	unchanged("after a controller restart")
	if _, err := cluster.Net.NetworkV1alpha1().ClusterNetworks().Get(ctx(t), v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("ClusterNetwork vlan after the restart: %v, want still missing (not made again switched off)", err)
	}

	cn := &v1alpha1.ClusterNetwork{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterNetworkVLAN},
		Spec: v1alpha1.ClusterNetworkSpec{Enable: true, DefaultPhysicalNIC: "eth1", MaxUnavailable: ptr(intstr.FromInt32(1))}}
	if _, err := cluster.Net.NetworkV1alpha1().ClusterNetworks().Create(ctx(t), cn, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, wait, func() string { return rolloutIs(t, "2/2 done") })
	unchanged("after it was created again")
}

// missingWarnings says "" once n1's object has at least n ClusterNetwork-
// missing Warnings (an Event's count included).
func missingWarnings(t *testing.T, n int32) string {
	evs, err := cluster.Kube.CoreV1().Events("default").List(ctx(t), metav1.ListOptions{FieldSelector: "involvedObject.name=n1,reason=ClusterNetworkMissing"})
	if err != nil {
		return err.Error()
	}
	var got int32
	for _, e := range evs.Items {
		got += max(e.Count, 1)
	}
	if got < n {
		return fmt.Sprintf("%d ClusterNetworkMissing Warnings on n1, want %d", got, n)
	}
	return ""
}

// A node that is down holds its wave (nothing reports for it); taking it
// out of the selection lets the rollout go on: its object, which no agent
// ever took, goes at once.
func TestDownNodeLeavesTheSelection(t *testing.T) {
	n1 := fresh(t, "n1")[0]
	newCoreNode(t, "n0") // no agent: down
	cluster.SetClusterNetwork(t, true, "eth1")
	eventually(t, wait, func() string {
		cn := controllerSaw(t)
		c := meta.FindStatusCondition(cn.Status.Conditions, v1alpha1.ConditionRolloutProgressing)
		if r := cn.Status.Rollout; r == nil || !slices.Equal(r.Wave, []string{"n0"}) || c == nil || !strings.Contains(c.Message, "n0 (agent has not reported generation 1)") {
			return fmt.Sprintf("rollout %+v, RolloutProgressing %+v; want waiting for n0", cn.Status.Rollout, c)
		}
		return ""
	})
	if _, err := cluster.HNode(t, "n1"); !apierrors.IsNotFound(err) {
		t.Errorf("hnode n1 while n0's wave waits: %v, want none", err)
	}
	label(t, "n0", `{"down":"true"}`)
	patchNetwork(t, `{"spec":{"nodeSelector":{"matchExpressions":[{"key":"down","operator":"DoesNotExist"}]}}}`)
	eventually(t, wait, func() string { return n1.PortOf(t, "eth1") })
	eventually(t, wait, func() string {
		if _, err := cluster.HNode(t, "n0"); !apierrors.IsNotFound(err) {
			return fmt.Sprintf("hnode n0: %v, want deleted", err)
		}
		return rolloutIs(t, "2/2 done")
	})
}

// The real agent's rollback halts the rollout, and fixing the node lets it
// go on by itself. The default NIC is the management NIC eth0, so each
// node's enslave moves its addresses and runs the agent's probes. On n2 an
// OUTPUT rule drops ICMP echo leaving through the bridge: its gateway
// answers ICMP through eth0 before the change and not after, so n2's agent
// rolls the change back. n3 then gets nothing; once the rule is gone and
// the retry annotation asks again, n2 takes the change and n3 follows.
func TestRolloutHaltsOnARealRollback(t *testing.T) {
	nodes := fresh(t, "n1", "n2", "n3")
	n1, n2, n3 := nodes[0], nodes[1], nodes[2]
	drop := []string{"OUTPUT", "-o", bridge, "-p", "icmp", "--icmp-type", "echo-request", "-j", "DROP"}
	n2.Exec(t, "iptables", append([]string{"-w", "-A"}, drop...)...)
	patchNetwork(t, `{"spec":{"enable":true,"defaultPhysicalNIC":"eth0","probes":{"timeoutSeconds":3}}}`)
	eventually(t, wait, func() string { return onManagementNIC(t, n1) })
	var halted *metav1.Condition
	eventually(t, time.Minute, func() string {
		cn := controllerSaw(t)
		halted = meta.FindStatusCondition(cn.Status.Conditions, v1alpha1.ConditionRolloutHalted)
		if halted == nil || halted.Status != metav1.ConditionTrue || cn.Status.Rollout == nil || cn.Status.Rollout.HaltedBy != "n2" {
			return fmt.Sprintf("RolloutHalted %+v, rollout %+v; want halted by n2", halted, cn.Status.Rollout)
		}
		return ""
	})
	o, err := cluster.HNode(t, "n2")
	if err != nil || o.Status.Rollback == nil {
		t.Fatalf("n2: %v, status.rollback %+v; want the agent's report", err, o)
	}
	if !strings.Contains(halted.Message, "node n2 rolled back") || !strings.Contains(halted.Message, o.Status.Rollback.Probe) {
		t.Errorf("RolloutHalted message %q does not name n2 and probe %q", halted.Message, o.Status.Rollback.Probe)
	}
	t.Logf("n2's agent rolled back: %s", o.Status.Rollback.Probe)
	if e0, _ := n2.Link(t, "eth0"); e0.Master != "" || !slices.Contains(e0.GlobalAddrs(), n2.Addr4()+"/24") {
		t.Errorf("n2's eth0 master %q, addresses %v: not back as before the change", e0.Master, e0.GlobalAddrs())
	}
	if _, err := cluster.HNode(t, "n3"); !apierrors.IsNotFound(err) {
		t.Errorf("hnode n3 while halted: %v, want none", err)
	}
	if _, ok := n3.Link(t, bridge); ok {
		t.Error("n3 has a bridge while the rollout is halted")
	}

	// The admin fixes the cause and asks n2's agent to try again.
	n2.Exec(t, "iptables", append([]string{"-w", "-D"}, drop...)...)
	if out, err := cluster.Kubectl("annotate", "hnode", "n2", v1alpha1.RetryAnnotation+"=1", "--overwrite"); err != nil {
		t.Fatalf("kubectl annotate: %v: %s", err, out)
	}
	eventually(t, time.Minute, func() string { return onManagementNIC(t, n2) })
	eventually(t, time.Minute, func() string { return onManagementNIC(t, n3) })
	eventually(t, wait, func() string { return rolloutIs(t, "3/3 done") })
}

// The uninstall hook (harvnet-controller --restore-hosts, as the
// controller's ServiceAccount) on a cluster whose ClusterNetwork was
// deleted: it creates it switched off, the staged rollout tears every node
// down, and the hook returns once no object is left.
func TestRestoreHostsAfterTheClusterNetworkWasDeleted(t *testing.T) {
	nodes := fresh(t, "n1", "n2")
	enable(t, "eth1", nodes...)
	if err := cluster.Net.NetworkV1alpha1().ClusterNetworks().Delete(ctx(t), v1alpha1.ClusterNetworkVLAN, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := cluster.CP.Kubeconfig(framework.ControllerUser, fmt.Sprintf("https://127.0.0.1:%d", cluster.CP.Port))
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(cluster.Bin, "harvnet-controller"), "--restore-hosts", "--kubeconfig", kubeconfig, "--restore-timeout", "90s").CombinedOutput()
	if err != nil {
		t.Fatalf("--restore-hosts: %v\n%s", err, out)
	}
	for _, n := range nodes {
		if _, err := cluster.HNode(t, n.Name); !apierrors.IsNotFound(err) {
			t.Errorf("hnode %s after --restore-hosts: %v", n.Name, err)
		}
		if _, ok := n.Link(t, bridge); ok {
			t.Errorf("%s still has its bridge after --restore-hosts", n.Name)
		}
		if e1, _ := n.Link(t, "eth1"); e1.Master != "" || !e1.Up() {
			t.Errorf("%s eth1 master %q, up %v", n.Name, e1.Master, e1.Up())
		}
	}
	if !strings.Contains(string(out), "created it switched off") {
		t.Errorf("--restore-hosts did not say it made the missing ClusterNetwork:\n%s", out)
	}
}
