package controller

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOwnerRefs(t *testing.T) {
	core := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", UID: "new"}}
	cur := metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: "n1", UID: "new"}
	old := metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: "n1", UID: "old"}
	other := metav1.OwnerReference{APIVersion: "example.com/v1", Kind: "Thing", Name: "x", UID: "t"}
	tests := []struct {
		name    string
		in      []metav1.OwnerReference
		want    []metav1.OwnerReference
		changed bool
	}{
		{"already owned", []metav1.OwnerReference{cur}, []metav1.OwnerReference{cur}, false},
		{"no owner", nil, []metav1.OwnerReference{cur}, true},
		{"core Node made again under the same name", []metav1.OwnerReference{old}, []metav1.OwnerReference{cur}, true},
		{"other owners kept", []metav1.OwnerReference{other, old}, []metav1.OwnerReference{other, cur}, true},
		{"a duplicate dropped", []metav1.OwnerReference{cur, cur}, []metav1.OwnerReference{cur}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := ownerRefs(tt.in, core)
			if !reflect.DeepEqual(got, tt.want) || changed != tt.changed {
				t.Errorf("ownerRefs(%v) = %v, %v; want %v, %v", tt.in, got, changed, tt.want, tt.changed)
			}
		})
	}
}
