package status

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// Condition reasons besides the desired package's input reasons.
const (
	ReasonReady             = "Ready"
	ReasonNotConfigured     = "NotConfigured"
	ReasonUnsupported       = "Unsupported"
	ReasonApplyFailed       = "ApplyFailed"
	ReasonWaiting           = "Waiting"
	ReasonPending           = "Pending"
	ReasonNoCarrier         = "NoCarrier"
	ReasonHostUnreadable    = "HostUnreadable"
	ReasonSpecNotReconciled = "SpecInvalid"
	ReasonCheckpointCorrupt = "CheckpointCorrupt"
	// ReasonRolledBack: a change cut the node off and was undone.
	ReasonRolledBack = "RolledBack"
	// ReasonProbing: a change is made and its probes have not all passed
	// again yet.
	ReasonProbing = "Probing"
)

var phaseCondition = map[plan.Phase]string{
	plan.PhaseBridge:   v1alpha1.ConditionBridgeReady,
	plan.PhaseUplink:   v1alpha1.ConditionUplinkReady,
	plan.PhaseBond:     v1alpha1.ConditionUplinkReady,
	plan.PhaseVLANs:    v1alpha1.ConditionVLANsReady,
	plan.PhaseDHCP:     v1alpha1.ConditionDHCPRulesReady,
	plan.PhaseBridgeNF: v1alpha1.ConditionBridgeNetfilterReady,
	plan.PhaseForward:  v1alpha1.ConditionBridgeNetfilterReady,
}

// conditionOrder is the order conditions appear in, Ready first.
var conditionOrder = []string{
	v1alpha1.ConditionReady, v1alpha1.ConditionBridgeReady, v1alpha1.ConditionUplinkReady,
	v1alpha1.ConditionVLANsReady, v1alpha1.ConditionDHCPRulesReady, v1alpha1.ConditionBridgeNetfilterReady,
}

func conditions(res reconcile.Result) []metav1.Condition {
	switch {
	case res.Checkpoint != nil:
		msg := CheckpointMessage(res.Checkpoint)
		cs := allWith(metav1.ConditionUnknown, ReasonCheckpointCorrupt, "not reconciled: "+msg, "")
		cs[0] = condition(v1alpha1.ConditionReady, false, ReasonCheckpointCorrupt, msg)
		cs[2] = condition(v1alpha1.ConditionUplinkReady, false, ReasonCheckpointCorrupt, msg)
		return cs
	case res.Err != nil:
		return allWith(metav1.ConditionUnknown, ReasonHostUnreadable, res.Err.Error(), "")
	case res.Invalid != nil:
		cs := allWith(metav1.ConditionUnknown, ReasonSpecNotReconciled, "not applied: "+res.Invalid.Message, res.Invalid.Reason)
		left := "; the host was left as it is"
		if len(res.Applied) > 0 {
			left = "" // the message says what was done
		}
		cs[0] = condition(v1alpha1.ConditionReady, false, res.Invalid.Reason, res.Invalid.Message+left)
		cs[2] = condition(v1alpha1.ConditionUplinkReady, false, res.Invalid.Reason, res.Invalid.Message)
		return cs
	}
	byType := map[string]metav1.Condition{}
	for _, s := range res.Steps {
		if s.Phase == plan.PhaseBond && s.Err == nil && s.Skipped == "" && len(s.Actions) == 0 {
			continue // a bond that is as wanted is the uplink's to report
		}
		c := stepCondition(res, s)
		if prev, ok := byType[c.Type]; ok {
			c = merge(prev, c)
		}
		byType[c.Type] = c
	}
	if c, ok := rollbackCondition(res, byType[v1alpha1.ConditionUplinkReady]); ok {
		byType[v1alpha1.ConditionUplinkReady] = c
	}
	out := []metav1.Condition{ready(res, byType)}
	for _, t := range conditionOrder[1:] {
		c, ok := byType[t]
		if !ok {
			c = condition(t, true, ReasonNotConfigured, "nothing to do")
		}
		out = append(out, c)
	}
	return out
}

// CheckpointMessage says that the agent's state file is corrupt, that the
// host is left as it is because of it, and what the operator can do.
func CheckpointMessage(e *checkpoint.CorruptError) string {
	return e.Error() + "; the agent changes nothing on this host until it can read it: " + e.Remedy()
}

func stepCondition(res reconcile.Result, s reconcile.StepResult) metav1.Condition {
	t := phaseCondition[s.Phase]
	switch {
	case s.Err != nil && s.Blocked != "":
		return condition(t, false, ReasonWaiting, fmt.Sprintf("waiting for %s, which failed", s.Blocked))
	case s.Err != nil:
		return condition(t, false, ReasonApplyFailed, s.Err.Error())
	case s.Skipped != "" && s.Reason != "":
		return condition(t, false, s.Reason, s.Skipped)
	case s.Skipped != "":
		return condition(t, false, ReasonUnsupported, s.Skipped)
	case len(s.Actions) > 0:
		return condition(t, false, ReasonPending, "still to do: "+s.Actions[0].String())
	case s.Lacks != "":
		return condition(t, false, ReasonUnsupported, s.Lacks)
	}
	if s.Phase == plan.PhaseUplink {
		return uplinkCondition(res)
	}
	return condition(t, true, ReasonReady, readyMessage(res, s))
}

func uplinkCondition(res reconcile.Result) metav1.Condition {
	nic := res.Desired.Uplink
	t := v1alpha1.ConditionUplinkReady
	if res.Desired.Teardown {
		return condition(t, true, ReasonNotConfigured, "no uplink: spec.network.type is empty")
	}
	if nic == "" {
		return condition(t, true, ReasonNotConfigured, "no uplink: spec.network.nic is empty, the bridge has no NIC")
	}
	l, _ := res.Host.Link(nic)
	if res.Desired.Bond != nil && LinkState(l) == v1alpha1.LinkUp {
		return bondCondition(res, l)
	}
	if st := LinkState(l); st != v1alpha1.LinkUp {
		return condition(t, false, ReasonNoCarrier, fmt.Sprintf("%s is enslaved to %s but its link is %s: check the cable and the switch port", nic, res.Desired.Bridge, st))
	}
	return condition(t, true, ReasonReady, fmt.Sprintf("%s is enslaved to %s and up", nic, res.Desired.Bridge))
}

func readyMessage(res reconcile.Result, s reconcile.StepResult) string {
	if s.Note != "" {
		return s.Note
	}
	switch s.Phase {
	case plan.PhaseBridge:
		if res.Desired.Teardown {
			return res.Desired.Bridge + " is not present"
		}
		return res.Desired.Bridge + " is up with vlan_filtering on"
	case plan.PhaseVLANs:
		if len(res.Desired.VLANs) == 0 && res.Input.NoNADs != "" {
			return "no VLAN IDs are applied: " + res.Input.NoNADs
		}
		if len(res.Desired.VLANs) == 0 {
			return "no VLAN IDs are wanted: no bridge NetworkAttachmentDefinition names " + res.Desired.Bridge
		}
		return fmt.Sprintf("VLAN IDs %v are allowed on the uplink", res.Desired.VLANs)
	case plan.PhaseDHCP:
		if res.Host.DHCPBackend != "" {
			return fmt.Sprintf("%d DHCP broute rules in place (%s)", len(res.Host.DHCPRules), res.Host.DHCPBackend)
		}
	case plan.PhaseBridgeNF:
		return "net.bridge.bridge-nf-call-iptables is 0"
	case plan.PhaseForward:
		var dropping []string
		for _, f := range res.Host.Forward {
			if f.Policy == "DROP" {
				dropping = append(dropping, f.Backend)
			}
		}
		if len(dropping) > 0 {
			// harvnet adds no FORWARD rules: bridged traffic does not pass
			// iptables, routed traffic stays under the host's policy.
			return fmt.Sprintf("bridged traffic on %s does not pass iptables; routed traffic through it is left to the FORWARD DROP policy of iptables %s and its rules", res.Desired.Bridge, strings.Join(dropping, " and "))
		}
		return "forwarding through " + res.Desired.Bridge + " is allowed"
	}
	return "nothing to do"
}

// merge folds two phases that share a condition: a failing one wins.
func merge(a, b metav1.Condition) metav1.Condition {
	if a.Status != b.Status {
		if a.Status == metav1.ConditionTrue {
			return b
		}
		return a
	}
	if a.Message != b.Message { // the bond's skip is the uplink's too
		a.Message = a.Message + "; " + b.Message
	}
	return a
}

func ready(res reconcile.Result, byType map[string]metav1.Condition) metav1.Condition {
	var reasons, msgs []string
	for _, t := range conditionOrder[1:] {
		if c, ok := byType[t]; ok && c.Status != metav1.ConditionTrue {
			reasons = append(reasons, c.Reason)
			msgs = append(msgs, t+": "+c.Message)
		}
	}
	if len(msgs) > 0 {
		reason := reasons[0]
		if slices.Contains(reasons, ReasonRolledBack) {
			// What the operator must act on first: the node is held on
			// its previous network.
			reason = ReasonRolledBack
		}
		return condition(v1alpha1.ConditionReady, false, reason, strings.Join(msgs, "; "))
	}
	if res.Desired.Teardown {
		return condition(v1alpha1.ConditionReady, true, ReasonNotConfigured, "no VLAN network on this node")
	}
	if c := byType[v1alpha1.ConditionUplinkReady]; c.Reason == ReasonDegraded {
		return condition(v1alpha1.ConditionReady, true, ReasonDegraded, "host network matches the spec; uplink degraded: "+c.Message)
	}
	return condition(v1alpha1.ConditionReady, true, ReasonReady, "host network matches the spec")
}

func allWith(s metav1.ConditionStatus, reason, msg, readyReason string) []metav1.Condition {
	out := make([]metav1.Condition, len(conditionOrder))
	for i, t := range conditionOrder {
		out[i] = metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg}
	}
	if readyReason != "" {
		out[0].Reason = readyReason
	}
	return out
}
