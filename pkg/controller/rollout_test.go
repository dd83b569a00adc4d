package controller

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

func core(name string, kv ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Labels[kv[i]] = kv[i+1]
	}
	return n
}

func cores(names ...string) []*corev1.Node {
	var out []*corev1.Node
	for _, n := range names {
		out = append(out, core(n))
	}
	return out
}

// obj is a Node object of type typ at generation gen; its agent reported
// generation observed with Ready status/reason ("" reason: no status).
func obj(name string, typ v1alpha1.NetworkType, gen, observed int64, ready metav1.ConditionStatus, reason string, mods ...func(*v1alpha1.Node)) *v1alpha1.Node {
	o := &v1alpha1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Generation: gen, ResourceVersion: "rv-" + name,
			Labels: map[string]string{v1alpha1.LabelSelected: "true"}},
		Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: typ, NIC: "eth1"}},
	}
	if reason != "" {
		// An agent that reported had put its finalizer on first.
		o.Finalizers = []string{v1alpha1.AgentFinalizer}
		o.Status.ObservedGeneration = observed
		o.Status.Conditions = []metav1.Condition{{Type: v1alpha1.ConditionReady, Status: ready, Reason: reason}}
	}
	for _, m := range mods {
		m(o)
	}
	return o
}

// on is a node with the network, done; off one the rollout switched off
// whose agent has torn down.
func on(name string) *v1alpha1.Node {
	return obj(name, v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionTrue, "Ready")
}

func off(name string) *v1alpha1.Node {
	return obj(name, v1alpha1.NetworkTypeNone, 2, 2, metav1.ConditionTrue, "NotConfigured", marked)
}

func marked(o *v1alpha1.Node) {
	o.Annotations = map[string]string{v1alpha1.AnnotationTeardown: "rollout"}
}

func unselectedLabel(o *v1alpha1.Node) { o.Labels[v1alpha1.LabelSelected] = "false" }

func gone(since time.Time) func(*v1alpha1.Node) {
	return func(o *v1alpha1.Node) {
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations[v1alpha1.AnnotationCoreNodeGoneSince] = since.Format(time.RFC3339)
	}
}

func rolledBack(gen int64) func(*v1alpha1.Node) {
	return func(o *v1alpha1.Node) {
		o.Finalizers = []string{v1alpha1.AgentFinalizer}
		o.Status.ObservedGeneration = gen
		o.Status.Rollback = &v1alpha1.RollbackStatus{Generation: gen, Probe: "gateway 10.0.0.1 (arp)", Step: v1alpha1.ConditionUplinkReady}
		meta.SetStatusCondition(&o.Status.Conditions, metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonRolledBack})
	}
}

type netOpt func(*v1alpha1.ClusterNetwork)

func network(enable bool, opts ...netOpt) *v1alpha1.ClusterNetwork {
	cn := &v1alpha1.ClusterNetwork{ObjectMeta: metav1.ObjectMeta{Name: "vlan", Generation: 3},
		Spec: v1alpha1.ClusterNetworkSpec{Enable: enable, DefaultPhysicalNIC: "eth1"}}
	for _, o := range opts {
		o(cn)
	}
	return cn
}

func maxU(v intstr.IntOrString) netOpt {
	return func(cn *v1alpha1.ClusterNetwork) { cn.Spec.MaxUnavailable = &v }
}

func selecting(ls *metav1.LabelSelector) netOpt {
	return func(cn *v1alpha1.ClusterNetwork) { cn.Spec.NodeSelector = ls }
}

func accepting(v string) netOpt {
	return func(cn *v1alpha1.ClusterNetwork) {
		cn.Annotations = map[string]string{v1alpha1.AnnotationAcceptRollback: v}
	}
}

// ops prints a plan's ops as "kind node", for comparing.
func ops(p rolloutPlan) []string {
	var out []string
	for _, o := range p.Ops {
		s := string(o.Kind) + " " + o.Node
		switch o.Kind {
		case opCreate:
			s += " " + o.NIC
		case opLabel:
			s += fmt.Sprint(" ", o.Selected)
		}
		out = append(out, s)
	}
	return out
}

func TestPlanRollout(t *testing.T) {
	tests := []struct {
		name    string
		in      rolloutInput
		ops     []string
		summary string // status.rollout.summary; "" for no status
		wave    []string
		halted  string
		// progressing is the RolloutProgressing reason, with a text its
		// message must contain after a '|'.
		progressing string
	}{
		{
			name: "new cluster: no ClusterNetwork, no objects",
			in:   rolloutInput{Cores: cores("n1")},
		},
		{
			name: "enable: one node at a time by default",
			in:   rolloutInput{Network: network(true), Cores: cores("n1", "n2", "n3")},
			ops:  []string{"create n1 eth1"}, summary: "0/3 rolling", wave: []string{"n1"}, progressing: "Rolling|n1 (being created)",
		},
		{
			name: "enable: maxUnavailable 2",
			in:   rolloutInput{Network: network(true, maxU(intstr.FromInt32(2))), Cores: cores("n1", "n2", "n3")},
			ops:  []string{"create n1 eth1", "create n2 eth1"}, summary: "0/3 rolling", wave: []string{"n1", "n2"},
		},
		{
			name: "a percentage rounds down",
			in:   rolloutInput{Network: network(true, maxU(intstr.FromString("67%"))), Cores: cores("n1", "n2", "n3")},
			ops:  []string{"create n1 eth1", "create n2 eth1"}, summary: "0/3 rolling", wave: []string{"n1", "n2"},
		},
		{
			name: "a percentage is at least one node",
			in:   rolloutInput{Network: network(true, maxU(intstr.FromString("10%"))), Cores: cores("n1", "n2", "n3")},
			ops:  []string{"create n1 eth1"}, summary: "0/3 rolling", wave: []string{"n1"},
		},
		{
			name: "100% is every selected node at once",
			in:   rolloutInput{Network: network(true, maxU(intstr.FromString("100%"))), Cores: cores("n1", "n2", "n3")},
			ops:  []string{"create n1 eth1", "create n2 eth1", "create n3 eth1"}, summary: "0/3 rolling", wave: []string{"n1", "n2", "n3"},
		},
		{
			name: "the wave's node has not reported yet: wait",
			in: rolloutInput{Network: network(true), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 0, "", "")}},
			summary: "0/2 rolling", wave: []string{"n1"}, progressing: "Rolling|n1 (agent has not reported generation 1)",
		},
		{
			name: "Ready on an older generation: wait",
			in: rolloutInput{Network: network(true), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 2, 1, metav1.ConditionTrue, "Ready")}},
			summary: "0/2 rolling", wave: []string{"n1"},
		},
		{
			name: "still applying: wait",
			in: rolloutInput{Network: network(true), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionFalse, "Pending")}},
			summary: "0/2 rolling", wave: []string{"n1"}, progressing: "Rolling|n1 (Ready False Pending)",
		},
		{
			name: "a reason unknown to the controller is not terminal: wait",
			in: rolloutInput{Network: network(true), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionFalse, "Probing")}},
			summary: "0/2 rolling", wave: []string{"n1"},
		},
		{
			name: "Ready's reason is terminal but another step is still in its probe window: wait",
			in: rolloutInput{Network: network(true), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionFalse, "Unsupported", func(o *v1alpha1.Node) {
					o.Status.Conditions = append(o.Status.Conditions,
						metav1.Condition{Type: v1alpha1.ConditionBridgeReady, Status: metav1.ConditionFalse, Reason: "Unsupported"},
						metav1.Condition{Type: v1alpha1.ConditionUplinkReady, Status: metav1.ConditionFalse, Reason: "Probing"})
				})}},
			summary: "0/2 rolling", wave: []string{"n1"},
		},
		{
			name: "a RolledBack step behind another Ready reason halts",
			in: rolloutInput{Network: network(true), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionFalse, "Unsupported", func(o *v1alpha1.Node) {
					o.Status.Conditions = append(o.Status.Conditions,
						metav1.Condition{Type: v1alpha1.ConditionUplinkReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonRolledBack})
				})}},
			summary: "0/2 halted", halted: "n1",
		},
		{
			name: "Ready: the next wave",
			in:   rolloutInput{Network: network(true), Cores: cores("n1", "n2", "n3"), Objects: []*v1alpha1.Node{on("n1")}},
			ops:  []string{"create n2 eth1"}, summary: "1/3 rolling", wave: []string{"n2"},
		},
		{
			name: "a terminal reason (the kernel lacks VLAN filtering) ends the node's change",
			in: rolloutInput{Network: network(true), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionFalse, "Unsupported")}},
			ops: []string{"create n2 eth1"}, summary: "1/2 rolling", wave: []string{"n2"},
		},
		{
			name: "a write the cache does not show yet holds its place",
			in:   rolloutInput{Network: network(true, maxU(intstr.FromInt32(2))), Cores: cores("n1", "n2", "n3"), Unseen: map[string]bool{"n1": true}},
			ops:  []string{"create n2 eth1"}, summary: "0/3 rolling", wave: []string{"n1", "n2"},
		},
		{
			name:    "every node on",
			in:      rolloutInput{Network: network(true), Cores: cores("n1", "n2"), Objects: []*v1alpha1.Node{on("n1"), on("n2")}},
			summary: "2/2 done", progressing: "Done|every node",
		},
		{
			name: "disable: switched off one wave at a time, not deleted",
			in:   rolloutInput{Network: network(false), Cores: cores("n1", "n2"), Objects: []*v1alpha1.Node{on("n1"), on("n2")}},
			ops:  []string{"turn-off n1"}, summary: "0/2 rolling", wave: []string{"n1"},
		},
		{
			name: "disable: torn down, the object goes, and the next node's wave starts",
			in:   rolloutInput{Network: network(false), Cores: cores("n1", "n2"), Objects: []*v1alpha1.Node{off("n1"), on("n2")}},
			ops:  []string{"delete n1", "turn-off n2"}, summary: "1/2 rolling", wave: []string{"n2"},
		},
		{
			name: "disable: a teardown in progress waits",
			in: rolloutInput{Network: network(false), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeNone, 2, 1, metav1.ConditionTrue, "Ready", marked), on("n2")}},
			summary: "0/2 rolling", wave: []string{"n1"},
		},
		{
			name: "disable: an object being deleted (by hand) is still changing",
			in: rolloutInput{Network: network(false), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionTrue, "Ready", func(o *v1alpha1.Node) {
					o.DeletionTimestamp = &metav1.Time{Time: t0}
				}), on("n2")}},
			summary: "0/2 rolling", wave: []string{"n1"},
		},
		{
			name: "disable: an object no agent ever took (its node was down) goes at once, out of the waves",
			in: rolloutInput{Network: network(false), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 0, "", ""), on("n2")}},
			ops: []string{"delete n1", "turn-off n2"}, summary: "1/2 rolling", wave: []string{"n2"},
		},
		{
			name: "disable: an object with the agent's finalizer is switched off through the waves though it never reported",
			in: rolloutInput{Network: network(false), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 0, "", "", func(o *v1alpha1.Node) {
					o.Finalizers = []string{v1alpha1.AgentFinalizer}
				}), on("n2")}},
			ops: []string{"turn-off n1"}, summary: "0/2 rolling", wave: []string{"n1"},
		},
		{
			name:    "disabled and done",
			in:      rolloutInput{Network: network(false), Cores: cores("n1", "n2")},
			summary: "2/2 done",
		},
		{
			name: "enabled again mid-teardown: the rollout's own switch-off is undone",
			in:   rolloutInput{Network: network(true), Cores: cores("n1"), Objects: []*v1alpha1.Node{off("n1")}},
			ops:  []string{"turn-on n1"}, summary: "0/1 rolling", wave: []string{"n1"},
		},
		{
			name: "an admin's own switch-off is left alone",
			in: rolloutInput{Network: network(true), Cores: cores("n1"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeNone, 2, 2, metav1.ConditionTrue, "NotConfigured")}},
			summary: "1/1 done",
		},
		{
			name: "a rollback halts the rollout; nothing else changes",
			in: rolloutInput{Network: network(true), Cores: cores("n1", "n2", "n3"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionFalse, "", rolledBack(1))}},
			summary: "0/3 halted", halted: "n1", progressing: "Halted|",
		},
		{
			name: "a Ready reason RolledBack halts it too",
			in: rolloutInput{Network: network(true), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionFalse, v1alpha1.ReasonRolledBack)}},
			summary: "0/2 halted", halted: "n1",
		},
		{
			name: "a halt still lets a torn-down object go",
			in: rolloutInput{Network: network(false), Cores: cores("n1", "n2", "n3"),
				Objects: []*v1alpha1.Node{off("n1"), obj("n2", v1alpha1.NetworkTypeNone, 2, 2, metav1.ConditionFalse, "", marked, rolledBack(2)), on("n3")}},
			ops: []string{"delete n1"}, summary: "1/3 halted", halted: "n2",
		},
		{
			name: "an accepted rollback lets the rollout go on and leaves the node as it is",
			in: rolloutInput{Network: network(true, accepting("n1/1")), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionFalse, "", rolledBack(1))}},
			ops: []string{"create n2 eth1"}, summary: "0/2 rolling", wave: []string{"n2"},
		},
		{
			name: "an accepted rollback of a teardown: the object is not deleted (that would tear down again)",
			in: rolloutInput{Network: network(false, accepting("n1/2")), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeNone, 2, 2, metav1.ConditionFalse, "", marked, rolledBack(2)), off("n2")}},
			ops: []string{"delete n2"}, summary: "1/2 done",
		},
		{
			name: "an accepted rollback, then the other direction: a new change",
			in: rolloutInput{Network: network(false, accepting("n1/1")), Cores: cores("n1"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionFalse, "", rolledBack(1))}},
			ops: []string{"turn-off n1"}, summary: "0/1 rolling", wave: []string{"n1"},
		},
		{
			name: "accepting another generation does not",
			in: rolloutInput{Network: network(true, accepting("n1/1")), Cores: cores("n1", "n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 2, 2, metav1.ConditionFalse, "", rolledBack(2))}},
			summary: "0/2 halted", halted: "n1",
		},
		{
			name: "selector with matchExpressions: witness and control-plane-only nodes get nothing",
			in: rolloutInput{
				Network: network(true, maxU(intstr.FromString("100%")), selecting(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "node-role.kubernetes.io/witness", Operator: metav1.LabelSelectorOpDoesNotExist},
					{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"compute", "storage"}},
				}})),
				Cores: []*corev1.Node{core("n1", "tier", "compute"), core("n2", "tier", "storage"), core("n3", "tier", "compute", "node-role.kubernetes.io/witness", ""), core("n4")},
			},
			ops: []string{"create n1 eth1", "create n2 eth1"}, summary: "2/4 rolling", wave: []string{"n1", "n2"},
		},
		{
			name: "a node leaving the selection is relabelled and switched off through the rollout",
			in: rolloutInput{
				Network: network(true, selecting(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tier", Operator: metav1.LabelSelectorOpNotIn, Values: []string{"witness"}}}})),
				Cores:   []*corev1.Node{core("n1", "tier", "witness"), core("n2", "tier", "witness"), core("n3")},
				Objects: []*v1alpha1.Node{on("n1"), on("n2"), on("n3")},
			},
			ops: []string{"label n1 false", "label n2 false", "turn-off n1"}, summary: "1/3 rolling", wave: []string{"n1"},
		},
		{
			name: "a label that already says so is not written",
			in: rolloutInput{
				Network: network(true, selecting(&metav1.LabelSelector{MatchLabels: map[string]string{"tier": "compute"}})),
				Cores:   []*corev1.Node{core("n1", "tier", "witness")},
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeNone, 2, 1, metav1.ConditionTrue, "Ready", marked, unselectedLabel)},
			},
			summary: "0/1 rolling", wave: []string{"n1"},
		},
		{
			name: "an invalid selector changes no node",
			in: rolloutInput{
				Network: network(false, selecting(&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
					{Key: "tier", Operator: metav1.LabelSelectorOpIn}}})),
				Cores: cores("n1"), Objects: []*v1alpha1.Node{on("n1")},
			},
			summary: "invalid selector", progressing: "InvalidSelector|spec.nodeSelector",
		},
		{
			name: "ClusterNetwork deleted: nothing is switched on or off",
			in:   rolloutInput{Cores: cores("n1", "n2"), Objects: []*v1alpha1.Node{on("n1")}},
		},
		{
			name: "core Node deleted: the object stays, marked",
			in:   rolloutInput{Network: network(true), Now: t0, Grace: 10 * time.Minute, Cores: cores("n2"), Objects: []*v1alpha1.Node{on("n1"), on("n2")}},
			ops:  []string{"mark-gone n1"}, summary: "1/1 done",
		},
		{
			name: "core Node gone within the grace period: nothing yet",
			in: rolloutInput{Network: network(true), Now: t0, Grace: 10 * time.Minute, Cores: cores("n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionTrue, "Ready", gone(t0.Add(-time.Minute))), on("n2")}},
			summary: "1/1 done",
		},
		{
			name: "core Node gone past the grace period: released",
			in: rolloutInput{Network: network(true), Now: t0, Grace: 10 * time.Minute, Cores: cores("n2"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionTrue, "Ready", gone(t0.Add(-10*time.Minute))), on("n2")}},
			ops: []string{"release n1"}, summary: "1/1 done",
		},
		{
			name: "core Node gone while the network is off: released at once",
			in:   rolloutInput{Network: network(false), Now: t0, Grace: 10 * time.Minute, Objects: []*v1alpha1.Node{on("n1")}},
			ops:  []string{"release n1"}, summary: "0/0 done",
		},
		{
			name: "core Node registered again: it takes the object back as it is",
			in: rolloutInput{Network: network(true), Now: t0, Grace: 10 * time.Minute, Cores: cores("n1"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionTrue, "Ready", gone(t0.Add(-time.Minute)))}},
			ops: []string{"adopt n1"}, summary: "1/1 done",
		},
		{
			name: "an older controller's owner reference to the core Node goes",
			in: rolloutInput{Network: network(true), Cores: cores("n1"),
				Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 1, 1, metav1.ConditionTrue, "Ready", func(o *v1alpha1.Node) {
					o.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: "n1", UID: "u"}}
				})}},
			ops: []string{"drop-owner n1"}, summary: "1/1 done",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.Now.IsZero() {
				tt.in.Now = t0
			}
			p := planRollout(tt.in)
			if got := ops(p); !reflect.DeepEqual(got, tt.ops) {
				t.Errorf("ops %q, want %q", got, tt.ops)
			}
			if tt.summary == "" {
				if p.Status != nil {
					t.Errorf("status %+v, want none", p.Status)
				}
				return
			}
			if p.Status == nil || p.Status.Rollout == nil {
				t.Fatalf("no rollout status, want %q", tt.summary)
			}
			r := p.Status.Rollout
			if r.Summary != tt.summary || !reflect.DeepEqual(r.Wave, tt.wave) || r.HaltedBy != tt.halted {
				t.Errorf("rollout %q wave %v halted by %q, want %q %v %q", r.Summary, r.Wave, r.HaltedBy, tt.summary, tt.wave, tt.halted)
			}
			if p.Status.ObservedGeneration != tt.in.Network.Generation {
				t.Errorf("observedGeneration %d, want %d", p.Status.ObservedGeneration, tt.in.Network.Generation)
			}
			halted := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionRolloutHalted)
			if tt.halted != "" && (halted == nil || halted.Status != metav1.ConditionTrue || !strings.Contains(halted.Message, "node "+tt.halted+" rolled back")) {
				t.Errorf("RolloutHalted %+v, want True naming %s", halted, tt.halted)
			}
			if tt.progressing != "" {
				reason, text, _ := strings.Cut(tt.progressing, "|")
				c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionRolloutProgressing)
				if c == nil || c.Reason != reason || !strings.Contains(c.Message, text) {
					t.Errorf("RolloutProgressing %+v, want reason %s with %q", c, reason, text)
				}
			}
		})
	}
}

// The no-ClusterNetwork cases say what the handler does besides ops.
func TestPlanRolloutWithoutClusterNetwork(t *testing.T) {
	if p := planRollout(rolloutInput{Cores: cores("n1"), Now: t0}); !p.CreateNetwork || len(p.Missing) > 0 {
		t.Errorf("no objects: %+v, want the ClusterNetwork created (switched off)", p)
	}
	p := planRollout(rolloutInput{Cores: cores("n1", "n2"), Objects: []*v1alpha1.Node{on("n2"), on("n1")}, Now: t0})
	if p.CreateNetwork || !reflect.DeepEqual(p.Missing, []string{"n1", "n2"}) {
		t.Errorf("with objects: %+v, want them left as they are and told", p)
	}
}

// The halt message tells the admin exactly how to go on, keeping the
// rollbacks accepted before.
func TestHaltMessageSaysHowToGoOn(t *testing.T) {
	p := planRollout(rolloutInput{Network: network(true, accepting("n0/4")), Cores: cores("n1", "n2"), Now: t0,
		Objects: []*v1alpha1.Node{obj("n1", v1alpha1.NetworkTypeVLAN, 2, 2, metav1.ConditionFalse, "", rolledBack(2))}})
	c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionRolloutHalted)
	for _, want := range []string{"gateway 10.0.0.1 (arp)", "UplinkReady", "1 node(s) not yet changed", v1alpha1.RetryAnnotation,
		"kubectl annotate clusternetwork vlan " + v1alpha1.AnnotationAcceptRollback + "=n0/4,n1/2 --overwrite"} {
		if c == nil || !strings.Contains(c.Message, want) {
			t.Errorf("RolloutHalted message lacks %q: %+v", want, c)
		}
	}
}

// An unchanged rollout gives back the status it was given, transition
// times included, so the handler writes nothing.
func TestPlanRolloutStatusIsStable(t *testing.T) {
	in := rolloutInput{Network: network(true), Cores: cores("n1", "n2"), Objects: []*v1alpha1.Node{on("n1")}, Unseen: map[string]bool{"n2": true}, Now: t0}
	first := planRollout(in)
	in.Network.Status = *first.Status
	in.Now = t0.Add(time.Hour)
	if second := planRollout(in); !reflect.DeepEqual(second.Status, first.Status) {
		t.Errorf("second pass changed the status:\n%+v\n%+v", second.Status, first.Status)
	}
}

// A wave of 100% on a large cluster still makes a valid status: the wave
// list within the CRD's bound, the condition naming ten nodes and a count.
func TestLargeWaveStatusIsBounded(t *testing.T) {
	var names []string
	for i := range 1500 {
		names = append(names, fmt.Sprintf("n%04d", i))
	}
	p := planRollout(rolloutInput{Network: network(true, maxU(intstr.FromString("100%"))), Cores: cores(names...), Now: t0})
	if len(p.Ops) != 1500 || len(p.Status.Rollout.Wave) != maxWaveListed {
		t.Errorf("%d ops, wave of %d listed; want 1500 and %d", len(p.Ops), len(p.Status.Rollout.Wave), maxWaveListed)
	}
	c := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionRolloutProgressing)
	if c == nil || !strings.Contains(c.Message, "n0009 (being created), and 1490 more") || strings.Contains(c.Message, "n0010") || len(c.Message) > 1024 {
		t.Errorf("RolloutProgressing message (%d bytes): %.300s", len(c.Message), c.Message)
	}
}
