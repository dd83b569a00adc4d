package controller

import (
	"fmt"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	cniv1 "github.com/harvnet/harvnet/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

type fakeWarner struct{ events []string }

func (f *fakeWarner) Eventf(obj runtime.Object, eventType, reason, messageFmt string, args ...any) {
	m := obj.(metav1.Object)
	f.events = append(f.events, fmt.Sprintf("%s/%s %s %s: %s", m.GetNamespace(), m.GetName(), eventType, reason, fmt.Sprintf(messageFmt, args...)))
}

func testNAD(ns, name, rv, config string) *cniv1.NetworkAttachmentDefinition {
	return &cniv1.NetworkAttachmentDefinition{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: rv},
		Spec:       cniv1.NetworkAttachmentDefinitionSpec{Config: config},
	}
}

// One Warning per NAD version and reason: a broken config, or VLANs asked
// from a namespace outside the allow-list. NADs the agents use, NADs for
// other bridges, and an empty allow-list (every namespace) report nothing.
func TestNADReports(t *testing.T) {
	const (
		vlan100 = `{"type":"bridge","bridge":"harvester-br0","vlan":100}`
		broken  = `{"type":"bridge","bridge":"harvester-br0","vlan":5000}`
		other   = `{"type":"bridge","bridge":"other-br","vlan":300}`
	)
	var allow []string
	w := &fakeWarner{}
	r := newNADReports(w, func() *v1alpha1.ClusterNetwork {
		return &v1alpha1.ClusterNetwork{Spec: v1alpha1.ClusterNetworkSpec{NADNamespaces: allow}}
	})
	steps := []struct {
		name   string
		allow  []string
		nad    *cniv1.NetworkAttachmentDefinition
		reason string
		events int // total so far
		says   string
	}{
		{name: "used", nad: testNAD("vms", "a", "1", vlan100)},
		{name: "broken", nad: testNAD("vms", "b", "1", broken), reason: ReasonInvalidConfig, events: 1, says: "VLAN ID 5000 is outside 1..4094"},
		{name: "broken, same version again", nad: testNAD("vms", "b", "1", broken), reason: ReasonInvalidConfig, events: 1},
		{name: "broken, new version", nad: testNAD("vms", "b", "2", broken), reason: ReasonInvalidConfig, events: 2},
		{name: "allowed namespace", allow: []string{"vms"}, nad: testNAD("vms", "a", "1", vlan100), events: 2},
		{name: "outside the list", allow: []string{"vms"}, nad: testNAD("tenant", "c", "1", vlan100), reason: ReasonNamespaceNotAllowed, events: 3,
			says: "namespace tenant is not in ClusterNetwork vlan's spec.nadNamespaces [vms], so its VLANs [100] are not allowed"},
		{name: "outside, same version", allow: []string{"vms"}, nad: testNAD("tenant", "c", "1", vlan100), reason: ReasonNamespaceNotAllowed, events: 3},
		{name: "another bridge outside the list is not harvnet's", allow: []string{"vms"}, nad: testNAD("tenant", "d", "1", other), events: 3},
		{name: "list emptied: every namespace", nad: testNAD("tenant", "c", "1", vlan100), events: 3},
		{name: "deleting", nad: func() *cniv1.NetworkAttachmentDefinition {
			d := testNAD("vms", "b", "3", broken)
			d.DeletionTimestamp = &metav1.Time{}
			return d
		}(), events: 3},
	}
	for _, s := range steps {
		allow = s.allow
		if got := r.check(s.nad); got != s.reason {
			t.Errorf("%s: reason %q, want %q", s.name, got, s.reason)
		}
		if len(w.events) != s.events {
			t.Fatalf("%s: %d events, want %d: %q", s.name, len(w.events), s.events, w.events)
		}
		if s.says != "" && !strings.Contains(w.events[len(w.events)-1], s.says) {
			t.Errorf("%s: event %q does not say %q", s.name, w.events[len(w.events)-1], s.says)
		}
	}
	// A deleted NAD made again under its name is reported again.
	r.forget("vms/b")
	allow = nil
	r.check(testNAD("vms", "b", "2", broken))
	if len(w.events) != 4 || !strings.Contains(w.events[3], "vms/b Warning InvalidConfig") {
		t.Errorf("after forget: events %q", w.events)
	}
}
