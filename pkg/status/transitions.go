package status

import (
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// SetTransitions stamps each condition of next: the time it had in prev if
// its status did not change, now if it did.
func SetTransitions(prev, next *v1alpha1.NodeStatus, now metav1.Time) {
	old := map[string]metav1.Condition{}
	for _, c := range prev.Conditions {
		old[c.Type] = c
	}
	for i := range next.Conditions {
		c := &next.Conditions[i]
		if o, ok := old[c.Type]; ok && o.Status == c.Status && !o.LastTransitionTime.IsZero() {
			c.LastTransitionTime = o.LastTransitionTime
		} else {
			c.LastTransitionTime = now
		}
	}
}

// Equal compares two statuses as an operator would: timestamps are volatile
// and left out, everything else counts.
func Equal(a, b *v1alpha1.NodeStatus) bool {
	return reflect.DeepEqual(stripTimes(a), stripTimes(b))
}

func stripTimes(s *v1alpha1.NodeStatus) *v1alpha1.NodeStatus {
	c := s.DeepCopy()
	for i := range c.Conditions {
		c.Conditions[i].LastTransitionTime = metav1.Time{}
		c.Conditions[i].ObservedGeneration = 0
	}
	for name, l := range c.NetworkStatus {
		for i := range l.Conditions {
			l.Conditions[i].LastTransitionTime = metav1.Time{}
		}
		c.NetworkStatus[name] = l
	}
	if len(c.NetworkStatus) == 0 {
		c.NetworkStatus = nil
	}
	if c.Rollback != nil {
		// Seconds and a time zone after the API's round trip; the same
		// rollback is held until it clears.
		c.Rollback.Time = metav1.Time{}
	}
	return c
}
