package controller

import (
	"reflect"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	cniv1 "github.com/harvnet/harvnet/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

func nads(ds ...*cniv1.NetworkAttachmentDefinition) []*cniv1.NetworkAttachmentDefinition { return ds }

// What the NADs ask of each bridge: only NADs in the allowed namespaces
// count (all without a list); a config that cannot be read for a bridge is
// skipped whole for it; a bad "mtu" drops the NAD from the MTUs only; a
// conflist counts for every bridge it names.
func TestSummarize(t *testing.T) {
	all := nads(
		testNAD("vms", "a", "1", `{"type":"bridge","bridge":"br0","vlan":100,"mtu":9000}`),
		testNAD("tenant", "b", "1", `{"type":"bridge","bridge":"br0","vlanTrunk":[{"minID":200,"maxID":202}],"mtu":1400}`),
		testNAD("vms", "broken", "1", `{"type":"bridge","bridge":"br0","vlan":5000}`),
		testNAD("vms", "notjson", "1", `{"type":`),
		testNAD("vms", "badmtu", "1", `{"type":"bridge","bridge":"br0","vlan":400,"mtu":70000}`),
		testNAD("vms", "other", "1", `{"type":"bridge","bridge":"br1","vlan":300}`),
		testNAD("vms", "macvlan", "1", `{"type":"macvlan","master":"eth0"}`),
		testNAD("vms", "untagged", "1", `{"type":"bridge","bridge":"br2"}`),
		testNAD("tenant", "list", "1", `{"plugins":[{"type":"bridge","bridge":"br1","vlan":301},{"type":"bridge","bridge":"br3","vlan":7,"mtu":1500}]}`),
	)
	gone := testNAD("vms", "gone", "1", `{"type":"bridge","bridge":"br0","vlan":999}`)
	gone.DeletionTimestamp = &metav1.Time{}
	all = append(all, gone)
	for _, tt := range []struct {
		name    string
		allowed []string
		want    []v1alpha1.BridgeNADs
	}{
		{name: "every namespace", want: []v1alpha1.BridgeNADs{
			{Bridge: "br0", VLANs: "100,200-202,400", MTUs: []v1alpha1.NADMTU{{NAD: "tenant/b", MTU: 1400}, {NAD: "vms/a", MTU: 9000}}},
			{Bridge: "br1", VLANs: "300-301"},
			{Bridge: "br3", VLANs: "7", MTUs: []v1alpha1.NADMTU{{NAD: "tenant/list", MTU: 1500}}},
		}},
		{name: "only vms", allowed: []string{"vms"}, want: []v1alpha1.BridgeNADs{
			{Bridge: "br0", VLANs: "100,400", MTUs: []v1alpha1.NADMTU{{NAD: "vms/a", MTU: 9000}}},
			{Bridge: "br1", VLANs: "300"},
		}},
		{name: "a namespace without NADs", allowed: []string{"nobody"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s summarizer
			got := s.summarize(all, tt.allowed)
			if !reflect.DeepEqual(got.Bridges, tt.want) || got.Unavailable != "" {
				t.Errorf("summarize =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// A recompute reuses what it parsed before for the configs still in use,
// follows a changed or deleted NAD exactly, and forgets configs no NAD
// uses any more.
func TestSummarizeMemo(t *testing.T) {
	a := testNAD("vms", "a", "1", `{"type":"bridge","bridge":"br0","vlan":100}`)
	b := testNAD("vms", "b", "1", `{"type":"bridge","bridge":"br0","vlan":200,"mtu":9000}`)
	c := testNAD("vms", "c", "1", `{"type":"bridge","bridge":"br0","vlan":200,"mtu":9000}`) // b's config
	var s summarizer
	check := func(step string, list []*cniv1.NetworkAttachmentDefinition, want []v1alpha1.BridgeNADs, wantMemo int) {
		t.Helper()
		if got := s.summarize(list, nil); !reflect.DeepEqual(got.Bridges, want) {
			t.Fatalf("%s: summarize = %+v, want %+v", step, got.Bridges, want)
		}
		if len(s.memo) != wantMemo {
			t.Fatalf("%s: %d configs remembered, want %d", step, len(s.memo), wantMemo)
		}
	}
	mtus := []v1alpha1.NADMTU{{NAD: "vms/b", MTU: 9000}, {NAD: "vms/c", MTU: 9000}}
	check("first", nads(a, b, c), []v1alpha1.BridgeNADs{{Bridge: "br0", VLANs: "100,200", MTUs: mtus}}, 2)
	parsedB := s.memo[b.Spec.Config]
	a2 := testNAD("vms", "a", "2", `{"type":"bridge","bridge":"br0","vlan":101}`)
	check("a changed", nads(a2, b, c), []v1alpha1.BridgeNADs{{Bridge: "br0", VLANs: "101,200", MTUs: mtus}}, 2)
	if s.memo[b.Spec.Config] != parsedB {
		t.Fatal("b's unchanged config was parsed again")
	}
	if _, ok := s.memo[a.Spec.Config]; ok {
		t.Fatal("a's old config is still remembered")
	}
	check("b deleted", nads(a2, c), []v1alpha1.BridgeNADs{{Bridge: "br0", VLANs: "101,200", MTUs: mtus[1:]}}, 2)
	check("c deleted", nads(a2), []v1alpha1.BridgeNADs{{Bridge: "br0", VLANs: "101"}}, 1)
	check("every NAD deleted", nil, nil, 0)
}

// status.nads follows what is known of the NADs, through the type going
// away and coming back, and is written only when it changed: every agent
// watches the object.
func TestNADSummaryWritesOnlyChanges(t *testing.T) {
	var writes []*v1alpha1.NADStatus
	enqueued := 0
	cn := &v1alpha1.ClusterNetwork{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterNetworkVLAN}}
	n := &nadSummary{
		enqueue: func() { enqueued++ },
		patch: func(old *v1alpha1.ClusterNetwork, next *v1alpha1.ClusterNetworkStatus) error {
			if old != cn {
				t.Fatalf("patched against %p, not the object synced", old)
			}
			writes = append(writes, next.NADs)
			cn = cn.DeepCopy()
			cn.Status = *next // the API server's answer, seen by the next sync
			return nil
		},
	}
	list := nads(testNAD("vms", "a", "1", `{"type":"bridge","bridge":"br0","vlan":100}`))
	sync := func(step string, wantWrites int, want *v1alpha1.NADStatus) {
		t.Helper()
		if _, err := n.sync(v1alpha1.ClusterNetworkVLAN, cn); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if len(writes) != wantWrites {
			t.Fatalf("%s: %d writes, want %d (%+v)", step, len(writes), wantWrites, writes)
		}
		if !reflect.DeepEqual(cn.Status.NADs, want) {
			t.Fatalf("%s: status.nads = %+v, want %+v", step, cn.Status.NADs, want)
		}
	}
	sync("nothing known yet", 0, nil)
	n.unserved(NoNADsWhy)
	sync("the type is not served", 1, &v1alpha1.NADStatus{Unavailable: NoNADsWhy})
	n.unserved(NoNADsWhy)
	sync("still not served", 1, &v1alpha1.NADStatus{Unavailable: NoNADsWhy})
	n.serve(func() ([]*cniv1.NetworkAttachmentDefinition, error) { return list, nil })
	vlan100 := &v1alpha1.NADStatus{Bridges: []v1alpha1.BridgeNADs{{Bridge: "br0", VLANs: "100"}}}
	sync("served", 2, vlan100)
	sync("the same NADs", 2, vlan100)
	list = append(list, testNAD("vms", "other", "1", `{"type":"macvlan","master":"eth0"}`))
	sync("a NAD that asks nothing of a bridge", 2, vlan100)
	list = list[1:]
	sync("the bridge NAD deleted", 3, &v1alpha1.NADStatus{})
	n.unserved(NoNADsWhy)
	sync("the type went away", 4, &v1alpha1.NADStatus{Unavailable: NoNADsWhy})
	if enqueued != 3 {
		t.Errorf("%d syncs asked for, want 3 (unserved, served, unserved again)", enqueued)
	}
	if _, err := n.sync("other", nil); err != nil || len(writes) != 4 {
		t.Errorf("another ClusterNetwork, or none: %v, %d writes", err, len(writes))
	}
}
