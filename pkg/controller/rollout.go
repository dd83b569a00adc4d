package controller

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// The staged rollout, as one pure function of what the caches hold: which
// Node objects to create, switch on or off, delete or relabel now, and the
// ClusterNetwork's status. The handlers only gather its input and carry
// its ops out.

// rolloutInput is everything a decision depends on.
type rolloutInput struct {
	// Network is the ClusterNetwork "vlan"; nil when it does not exist.
	Network *v1alpha1.ClusterNetwork
	Cores   []*corev1.Node
	Objects []*v1alpha1.Node
	// Unseen names nodes the controller changed whose change the caches
	// do not show yet: they count as changing, so a stale cache never
	// lets a wave grow past maxUnavailable.
	Unseen map[string]bool
	Now    time.Time
	// Grace is how long an object outlives its core Node.
	Grace time.Duration
}

type opKind string

const (
	opCreate    opKind = "create"     // a Node object with type vlan and the default NIC
	opTurnOn    opKind = "turn-on"    // type "" -> vlan on an object the rollout switched off
	opTurnOff   opKind = "turn-off"   // type vlan -> "", marked as the rollout's
	opDelete    opKind = "delete"     // an object whose agent has torn down
	opLabel     opKind = "label"      // the selected label
	opDropOwner opKind = "drop-owner" // owner references to the core Node (set by older controllers)
	opMarkGone  opKind = "mark-gone"  // the core Node is missing: start the grace period
	opAdopt     opKind = "adopt"      // the core Node is back: end it
	opRelease   opKind = "release"    // the grace period is over: lift the finalizer and delete
)

// op is one change to one Node object.
type op struct {
	Kind     opKind
	Node     string
	NIC      string                  // opCreate
	Selected bool                    // opCreate, opLabel
	Refs     []metav1.OwnerReference // opDropOwner: what is kept
	// RV is the resourceVersion the decision saw, so that a write races
	// no newer change (an admin's edit) silently.
	RV string
}

// rolloutPlan is what to do now.
type rolloutPlan struct {
	Ops []op
	// Status is the ClusterNetwork's next status; nil without one.
	Status *v1alpha1.ClusterNetworkStatus
	// CreateNetwork: there is no ClusterNetwork and no Node object, so
	// the controller creates it switched off for the admin to enable.
	CreateNetwork bool
	// Missing: there is no ClusterNetwork but nodes have objects. Nothing
	// is switched on or off until one exists again; the nodes are told.
	Missing []string
	// RequeueAfter, when positive, is when a grace period ends.
	RequeueAfter time.Duration
}

// Ready reasons that end a node's change though Ready is not True: the
// agent did all it can and waits on something no retry fixes (a kernel
// feature, a cable, the admin's spec). Any other reason, and any reason
// unknown here (a newer agent's "probing", say), means "not yet": waiting
// is the safe side.
var terminalReasons = map[string]bool{
	"Unsupported": true, "NoCarrier": true,
	"InvalidSpec": true, "InvalidNIC": true, "InvalidVLAN": true, "NICNotFound": true,
	"NICTypeNotAllowed": true, "NICEnslavedElsewhere": true, "NICAmbiguous": true, "NICHasUpperDevices": true,
	"NotOwned": true, // a bridge of that name that is not harvnet's: left to the admin
}

// Condition reasons of the ClusterNetwork.
const (
	reasonRolling         = "Rolling"
	reasonDone            = "Done"
	reasonHalted          = "Halted"
	reasonInvalidSelector = "InvalidSelector"
	reasonNoRollback      = "NoRollback"
)

func planRollout(in rolloutInput) rolloutPlan {
	var p rolloutPlan
	cn := in.Network
	if cn == nil && len(in.Objects) == 0 {
		p.CreateNetwork = true
		return p
	}
	cores := map[string]*corev1.Node{}
	var names []string
	for _, c := range in.Cores {
		cores[c.Name] = c
		names = append(names, c.Name)
	}
	slices.Sort(names)
	objs := map[string]*v1alpha1.Node{}
	for _, o := range in.Objects {
		objs[o.Name] = o
	}
	disabled := cn != nil && !cn.Spec.Enable
	p.maintain(in, cores, disabled)
	if cn == nil {
		for _, o := range in.Objects {
			p.Missing = append(p.Missing, o.Name)
		}
		slices.Sort(p.Missing)
		return p
	}
	st := cn.Status.DeepCopy()
	st.ObservedGeneration = cn.Generation
	p.Status = st
	sel, err := selector(cn.Spec.NodeSelector)
	if err != nil {
		setCond(st, v1alpha1.ConditionRolloutProgressing, false, reasonInvalidSelector,
			fmt.Sprintf("spec.nodeSelector: %v; no node is switched on or off until it is fixed", err), in.Now)
		st.Rollout = &v1alpha1.RolloutStatus{Summary: "invalid selector", Total: len(names)}
		return p
	}
	selected := map[string]bool{}
	for _, name := range names {
		selected[name] = sel.Matches(labels.Set(cores[name].Labels))
		if o := objs[name]; o != nil && o.DeletionTimestamp == nil && o.Labels[v1alpha1.LabelSelected] != strconv.FormatBool(selected[name]) {
			p.Ops = append(p.Ops, op{Kind: opLabel, Node: name, Selected: selected[name]})
		}
	}
	nSelected := 0
	for _, s := range selected {
		if s {
			nSelected++
		}
	}
	budget := maxUnavailable(cn.Spec.MaxUnavailable, nSelected)
	accepted := acceptedRollbacks(cn)

	var changing, halted []string
	var todo []op
	haltMsgs := []string{}
	updated := 0
	for _, name := range names {
		o, want := objs[name], cn.Spec.Enable && selected[name]
		if in.Unseen[name] {
			changing = append(changing, name)
			continue
		}
		acceptedRB := false
		if o != nil {
			if gen, why, ok := rollback(o); ok {
				key := fmt.Sprintf("%s/%d", name, gen)
				if !accepted[key] {
					halted = append(halted, key)
					haltMsgs = append(haltMsgs, fmt.Sprintf("node %s rolled back generation %d: %s", name, gen, why))
					continue
				}
				acceptedRB = true
			}
		}
		done := o != nil && (acceptedRB || settled(o))
		switch {
		case o == nil && want:
			todo = append(todo, op{Kind: opCreate, Node: name, NIC: cn.Spec.DefaultPhysicalNIC, Selected: true})
		case o == nil:
			updated++
		case o.DeletionTimestamp != nil:
			changing = append(changing, name) // its agent tears down; recreated after, if wanted
		case !want && untouched(o):
			// No agent ever took it (a node that was down all along):
			// nothing to tear down, so it goes at once and never blocks
			// a wave.
			p.Ops = append(p.Ops, op{Kind: opDelete, Node: name, RV: o.ResourceVersion})
			updated++
		case o.Spec.Network.Type == v1alpha1.NetworkTypeNone && want && o.Annotations[v1alpha1.AnnotationTeardown] != "":
			todo = append(todo, op{Kind: opTurnOn, Node: name, RV: o.ResourceVersion})
		case o.Spec.Network.Type != v1alpha1.NetworkTypeNone && !want:
			todo = append(todo, op{Kind: opTurnOff, Node: name, RV: o.ResourceVersion})
		case acceptedRB:
			// Its agent undid the change and the admin accepted that: left
			// as it is (deleting it would tear it down once more), and not
			// counted as updated.
		case !want && done:
			// Torn down: the object goes. It holds its place in the wave
			// while it is being deleted (the agent lifts its finalizer).
			p.Ops = append(p.Ops, op{Kind: opDelete, Node: name, RV: o.ResourceVersion})
			updated++
		case done:
			updated++ // on, or left off by its admin (type "" without the rollout's mark)
		default:
			changing = append(changing, name)
		}
	}

	wave := slices.Clone(changing)
	if len(halted) == 0 {
		for _, o := range todo {
			if len(wave) >= budget {
				break
			}
			p.Ops = append(p.Ops, o)
			wave = append(wave, o.Node)
		}
	}
	slices.Sort(wave)

	word := "done"
	switch {
	case len(halted) > 0:
		word = "halted"
	case len(wave) > 0 || len(todo) > 0:
		word = "rolling"
	}
	st.Rollout = &v1alpha1.RolloutStatus{
		Summary: fmt.Sprintf("%d/%d %s", updated, len(names), word),
		Total:   len(names), Updated: updated, Wave: wave[:min(len(wave), maxWaveListed)],
	}
	if len(halted) > 0 {
		first := halted[0]
		st.Rollout.HaltedBy = first[:strings.LastIndexByte(first, '/')]
		acc := strings.Join(append(sortedKeys(accepted), halted...), ",")
		if more := len(haltMsgs) - maxWaveNamed; more > 0 {
			haltMsgs = append(haltMsgs[:maxWaveNamed], fmt.Sprintf("and %d more", more))
		}
		setCond(st, v1alpha1.ConditionRolloutHalted, true, v1alpha1.ReasonRolledBack, fmt.Sprintf(
			"%s. The rollout stopped; %d node(s) not yet changed keep their network as it is. To go on, fix the node so its agent no longer reports the rollback (edit its spec, or `kubectl annotate hnode %s %s=<new value> --overwrite` to try the same spec again), or accept it and leave it as it is: `kubectl annotate clusternetwork %s %s=%s --overwrite`",
			strings.Join(haltMsgs, "; "), len(todo), st.Rollout.HaltedBy, v1alpha1.RetryAnnotation, cn.Name, v1alpha1.AnnotationAcceptRollback, acc), in.Now)
		setCond(st, v1alpha1.ConditionRolloutProgressing, false, reasonHalted, "halted: see RolloutHalted", in.Now)
		return p
	}
	setCond(st, v1alpha1.ConditionRolloutHalted, false, reasonNoRollback, "no node reports a rollback", in.Now)
	if word == "rolling" {
		setCond(st, v1alpha1.ConditionRolloutProgressing, true, reasonRolling, fmt.Sprintf(
			"%d/%d nodes as asked; changing %s (at most %d at once), waiting for each to report Ready; %d more to go after",
			updated, len(names), describe(wave, objs), budget, len(todo)-(len(wave)-len(changing))), in.Now)
	} else {
		setCond(st, v1alpha1.ConditionRolloutProgressing, false, reasonDone, "every node is as the ClusterNetwork asks", in.Now)
	}
	return p
}

// maintain adds the ops that keep objects through a core Node's absence:
// no owner reference for a garbage collector to follow, the time the core
// Node went missing, and the object's release once that is Grace ago, or
// at once while the network is switched off (there is no spec to keep).
func (p *rolloutPlan) maintain(in rolloutInput, cores map[string]*corev1.Node, disabled bool) {
	objs := slices.Clone(in.Objects)
	slices.SortFunc(objs, func(a, b *v1alpha1.Node) int { return strings.Compare(a.Name, b.Name) })
	for _, o := range objs {
		if refs, ok := withoutCoreOwner(o.OwnerReferences); ok {
			p.Ops = append(p.Ops, op{Kind: opDropOwner, Node: o.Name, Refs: refs, RV: o.ResourceVersion})
		}
		since, marked := goneSince(o)
		switch core := cores[o.Name]; {
		case core != nil && marked:
			p.Ops = append(p.Ops, op{Kind: opAdopt, Node: o.Name, RV: o.ResourceVersion})
		case core != nil:
		case disabled || (marked && !in.Now.Before(since.Add(in.Grace))):
			p.Ops = append(p.Ops, op{Kind: opRelease, Node: o.Name, RV: o.ResourceVersion})
		case !marked:
			p.Ops = append(p.Ops, op{Kind: opMarkGone, Node: o.Name, RV: o.ResourceVersion})
			p.requeue(in.Grace)
		default:
			p.requeue(since.Add(in.Grace).Sub(in.Now))
		}
	}
}

func (p *rolloutPlan) requeue(d time.Duration) {
	if d > 0 && (p.RequeueAfter == 0 || d < p.RequeueAfter) {
		p.RequeueAfter = d
	}
}

// goneSince reads AnnotationCoreNodeGoneSince; an unreadable value counts
// as unmarked, so it is stamped again.
func goneSince(o *v1alpha1.Node) (time.Time, bool) {
	v, ok := o.Annotations[v1alpha1.AnnotationCoreNodeGoneSince]
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, v)
	return t, err == nil
}

// withoutCoreOwner returns refs without references to a core Node, and
// whether there were any.
func withoutCoreOwner(refs []metav1.OwnerReference) ([]metav1.OwnerReference, bool) {
	out := slices.DeleteFunc(slices.Clone(refs), func(r metav1.OwnerReference) bool {
		return r.APIVersion == "v1" && r.Kind == "Node"
	})
	return out, len(out) != len(refs)
}

// selector is spec.nodeSelector as a selector; unset selects every node.
func selector(ls *metav1.LabelSelector) (labels.Selector, error) {
	if ls == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(ls)
}

// maxUnavailable resolves spec.maxUnavailable against the selected nodes:
// a percentage rounds down, and the result is at least 1.
func maxUnavailable(v *intstr.IntOrString, selected int) int {
	if v == nil {
		return 1
	}
	n, err := intstr.GetScaledValueFromIntOrPercent(v, selected, false)
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// settled says whether a node's agent has finished with the object's
// current spec: it reported on this generation, and Ready is True, or
// every condition that is not True has a terminal reason. Ready's reason
// alone would not do: it is the first failing step's, so a bridge
// without VLAN filtering (Unsupported) would hide an uplink still in its
// probe window (Probing).
func settled(o *v1alpha1.Node) bool {
	if o.Status.ObservedGeneration != o.Generation {
		return false
	}
	c := meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionReady)
	if c == nil {
		return false
	}
	if c.Status == metav1.ConditionTrue {
		return true
	}
	for _, c := range o.Status.Conditions {
		if c.Status != metav1.ConditionTrue && !terminalReasons[c.Reason] {
			return false
		}
	}
	return true
}

// untouched says whether no agent has acted on the object: the agent puts
// its finalizer on before it hands a spec to its host loop, and reports
// every generation it saw.
func untouched(o *v1alpha1.Node) bool {
	return o.Status.ObservedGeneration == 0 && !slices.Contains(o.Finalizers, v1alpha1.AgentFinalizer)
}

// rollback says whether the node's agent reports a rolled-back change, of
// which generation, and why.
func rollback(o *v1alpha1.Node) (int64, string, bool) {
	if rb := o.Status.Rollback; rb != nil {
		return rb.Generation, fmt.Sprintf("probe %s kept failing after %s", rb.Probe, rb.Step), true
	}
	for _, c := range o.Status.Conditions {
		if c.Reason == v1alpha1.ReasonRolledBack {
			return o.Status.ObservedGeneration, c.Type + ": " + c.Message, true
		}
	}
	return 0, "", false
}

func acceptedRollbacks(cn *v1alpha1.ClusterNetwork) map[string]bool {
	out := map[string]bool{}
	for _, s := range strings.Split(cn.Annotations[v1alpha1.AnnotationAcceptRollback], ",") {
		if s = strings.TrimSpace(s); s != "" {
			out[s] = true
		}
	}
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The status lists at most maxWaveListed nodes of a wave (the CRD's
// bound on status.rollout.wave), and the condition names maxWaveNamed of
// them, so a wave of 100% on a large cluster still makes a valid status.
const (
	maxWaveListed = 1000
	maxWaveNamed  = 10
)

// describe names the wave's nodes with their Ready reason, so the
// condition says what each is waiting on.
func describe(wave []string, objs map[string]*v1alpha1.Node) string {
	more := len(wave) - maxWaveNamed
	wave = wave[:min(len(wave), maxWaveNamed)]
	parts := make([]string, len(wave))
	for i, name := range wave {
		why := "no status yet"
		if o := objs[name]; o == nil {
			why = "being created"
		} else if o.DeletionTimestamp != nil {
			why = "being deleted"
		} else if o.Status.ObservedGeneration != o.Generation {
			why = fmt.Sprintf("agent has not reported generation %d", o.Generation)
		} else if c := meta.FindStatusCondition(o.Status.Conditions, v1alpha1.ConditionReady); c != nil {
			why = "Ready " + string(c.Status) + " " + c.Reason
		}
		parts[i] = name + " (" + why + ")"
	}
	if more > 0 {
		parts = append(parts, fmt.Sprintf("and %d more", more))
	}
	return strings.Join(parts, ", ")
}

// setCond sets a condition, keeping its transition time when its status
// did not change.
func setCond(st *v1alpha1.ClusterNetworkStatus, typ string, status bool, reason, msg string, now time.Time) {
	// The API server stores seconds; a finer time would read back as a change.
	now = now.Truncate(time.Second)
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: typ, Status: s, Reason: reason, Message: msg,
		LastTransitionTime: metav1.NewTime(now), ObservedGeneration: st.ObservedGeneration,
	})
}
