package controller

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// A rollout write holds its node's place in the wave until the cache shows
// it, or shows that it no longer matters.
func TestExpectationSeenIn(t *testing.T) {
	node := func(uid string, gen int64) *v1alpha1.Node {
		return &v1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: types.UID(uid), Generation: gen}}
	}
	patched := expectation{uid: "u1", generation: 2}
	created := expectation{uid: "u1", generation: 1, created: true}
	tests := []struct {
		name string
		e    expectation
		o    *v1alpha1.Node
		want bool
	}{
		{"patch not in the cache yet", patched, node("u1", 1), false},
		{"patch in the cache", patched, node("u1", 2), true},
		{"patched object deleted since", patched, nil, true},
		{"patched object replaced by another", patched, node("u2", 1), true},
		{"created object not in the cache yet", created, nil, false},
		{"created object in the cache", created, node("u1", 1), true},
	}
	for _, tt := range tests {
		if got := tt.e.seenIn(tt.o); got != tt.want {
			t.Errorf("%s: seenIn = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestUnseenForgetsAfterTheDeadline(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &Controller{now: func() time.Time { return now }, expect: map[string]expectation{}}
	c.expectWrite(&v1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "u1", Generation: 1}}, true)
	if got := c.unseen(nil, now.Add(expectFor-time.Second)); !got["n1"] {
		t.Errorf("unseen %v before the deadline, want n1", got)
	}
	if got := c.unseen(nil, now.Add(expectFor+time.Second)); got["n1"] || len(c.expect) != 0 {
		t.Errorf("unseen %v after the deadline, want n1 forgotten", got)
	}
	c.expectWrite(&v1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "u1", Generation: 3}}, false)
	c.observe("n1", nil)
	if len(c.expect) != 0 {
		t.Error("a patched object's deletion did not end its expectation")
	}
}
