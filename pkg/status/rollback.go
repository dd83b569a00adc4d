package status

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// rollbackCondition is the UplinkReady condition while a change is held
// rolled back or inside its probe window; ok is false otherwise, and when
// the step failed on its own (that failure says more).
func rollbackCondition(res reconcile.Result, step metav1.Condition) (metav1.Condition, bool) {
	t := v1alpha1.ConditionUplinkReady
	if step.Reason == ReasonApplyFailed || step.Reason == ReasonWaiting {
		return step, false
	}
	if rb := res.RolledBack; rb != nil {
		return condition(t, false, ReasonRolledBack, RolledBackMessage(res)), true
	}
	if p := res.Pending; p != nil {
		names := make([]string, len(p.Probes))
		for i, pr := range p.Probes {
			names[i] = pr.String()
		}
		return condition(t, false, ReasonProbing, fmt.Sprintf("the change of generation %d is made; it is kept once these probes pass again, and rolled back if one still fails at %s: %s",
			p.Next.Generation, p.Deadline.UTC().Format("15:04:05"), strings.Join(names, ", "))), true
	}
	return step, false
}

// RolledBackMessage says which change was undone, why, and what makes the
// agent try it again.
func RolledBackMessage(res reconcile.Result) string {
	rb := res.RolledBack
	why := ""
	if rb.Why != "" {
		why = " (" + rb.Why + ")"
	}
	retry := fmt.Sprintf("set annotation %s to any value", v1alpha1.RetryAnnotation)
	if rb.Retry != "" {
		retry = fmt.Sprintf("set annotation %s to a value other than %q", v1alpha1.RetryAnnotation, rb.Retry)
	}
	return fmt.Sprintf("the change of generation %d was rolled back at %s: probe %s kept failing after it%s; the node is held on its previous network "+
		"and the agent does not try this spec again on its own: edit the spec (a new generation) or %s to try again",
		rb.Generation, rb.Time.UTC().Format("15:04:05"), rb.Probe, why, retry)
}

// rollbackStatus is status.rollback: set while a rolled-back change is held.
func rollbackStatus(res reconcile.Result) *v1alpha1.RollbackStatus {
	rb := res.RolledBack
	if rb == nil {
		return nil
	}
	return &v1alpha1.RollbackStatus{Generation: rb.Generation, Probe: rb.Probe, Step: rb.Step, Time: metav1.NewTime(rb.Time), Retry: rb.Retry}
}
