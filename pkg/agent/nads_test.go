package agent

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	cniv1 "github.com/harvnet/harvnet/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
)

type fakeNADs []*cniv1.NetworkAttachmentDefinition

func (f fakeNADs) List(string, labels.Selector) ([]*cniv1.NetworkAttachmentDefinition, error) {
	return f, nil
}

func testNAD(ns, name, config string) *cniv1.NetworkAttachmentDefinition {
	return &cniv1.NetworkAttachmentDefinition{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       cniv1.NetworkAttachmentDefinitionSpec{Config: config},
	}
}

// Only NADs in the allowed namespaces count (all without a list or without
// the ClusterNetwork); broken ones and other bridges' never do.
func TestNADVLANsFollowTheNamespaceAllowList(t *testing.T) {
	nads := fakeNADs{
		testNAD("vms", "a", `{"type":"bridge","bridge":"br0","vlan":100}`),
		testNAD("tenant", "b", `{"type":"bridge","bridge":"br0","vlanTrunk":[{"minID":200,"maxID":201}]}`),
		testNAD("vms", "broken", `{"type":"bridge","bridge":"br0","vlan":5000}`),
		testNAD("vms", "other", `{"type":"bridge","bridge":"br1","vlan":300}`),
	}
	cn := func(ns ...string) *v1alpha1.ClusterNetwork {
		return &v1alpha1.ClusterNetwork{Spec: v1alpha1.ClusterNetworkSpec{NADNamespaces: ns}}
	}
	for _, tt := range []struct {
		name string
		cn   *v1alpha1.ClusterNetwork
		want []int
	}{
		{"no ClusterNetwork", nil, []int{100, 200, 201}},
		{"empty list: every namespace", cn(), []int{100, 200, 201}},
		{"only vms", cn("vms"), []int{100}},
		{"only tenant", cn("tenant"), []int{200, 201}},
		{"a namespace without NADs", cn("nobody"), []int{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vl := &nadVLANs{cache: nads, bridge: "br0", network: func() *v1alpha1.ClusterNetwork { return tt.cn }}
			got, _, err := vl.compute()
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("compute() = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// The NADs' MTUs: one per allowed NAD of the bridge that sets one, sorted;
// a bad mtu drops the NAD from the MTUs but not from the VLANs.
func TestNADMTUs(t *testing.T) {
	nads := fakeNADs{
		testNAD("vms", "jumbo", `{"type":"bridge","bridge":"br0","vlan":100,"mtu":9000}`),
		testNAD("tenant", "small", `{"type":"bridge","bridge":"br0","vlan":200,"mtu":1400}`),
		testNAD("vms", "plain", `{"type":"bridge","bridge":"br0","vlan":300}`),
		testNAD("vms", "badmtu", `{"type":"bridge","bridge":"br0","vlan":400,"mtu":70000}`),
		testNAD("vms", "other", `{"type":"bridge","bridge":"br1","vlan":500,"mtu":9000}`),
		testNAD("elsewhere", "big", `{"type":"bridge","bridge":"br0","vlan":600,"mtu":9000}`),
	}
	cn := &v1alpha1.ClusterNetwork{Spec: v1alpha1.ClusterNetworkSpec{NADNamespaces: []string{"vms", "tenant"}}}
	vl := &nadVLANs{cache: nads, bridge: "br0", network: func() *v1alpha1.ClusterNetwork { return cn }}
	vids, mtus, err := vl.compute()
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{100, 200, 300, 400}; !slices.Equal(vids, want) {
		t.Errorf("VLANs %v, want %v", vids, want)
	}
	want := []desired.NADMTU{{NAD: "tenant/small", MTU: 1400}, {NAD: "vms/jumbo", MTU: 9000}}
	if !slices.Equal(mtus, want) {
		t.Errorf("MTUs %v, want %v", mtus, want)
	}
}

// The informer's transform keeps what compute reads and nothing else:
// over the slim objects it gives exactly the VLANs and MTUs of the full
// ones, for every kind of config (the allow-list's namespaces included).
func TestSlimNADsComputeTheSame(t *testing.T) {
	configs := []string{
		`{"type":"bridge","bridge":"br0","vlan":100}`,
		`{"cniVersion":"0.3.1","name":"n","type":"bridge","bridge":"br0","vlan":101,"ipam":{"type":"static","addresses":[{"address":"10.0.0.1/24"}]}}`,
		`{"type":"bridge","bridge":"br0","vlanTrunk":[{"minID":200,"maxID":203},{"id":210}]}`,
		`{"type":"bridge","bridge":"br0","vlan":102,"mtu":9000}`,
		`{"type":"bridge","bridge":"br0","mtu":1400}`,             // an MTU, no VLAN
		`{"type":"bridge","bridge":"br0","vlan":103,"mtu":70000}`, // bad mtu: VLANs only
		`{"type":"bridge","bridge":"br0","mtu":-1}`,               // bad mtu, no VLAN: nothing
		`{"type":"bridge","bridge":"br0"}`,                        // untagged: nothing
		`{"type":"bridge","bridge":"br0","vlan":5000}`,            // out of range: skipped
		`{"type":"bridge","bridge":"br1","vlan":300,"mtu":9000}`,  // another bridge
		`{"type":"macvlan","master":"eth1","mode":"bridge"}`,      // another plugin
		`{"cniVersion":"0.3.1","plugins":[{"type":"bridge","bridge":"br0","vlan":400},{"type":"tuning"}]}`,
		`{"plugins":[{"type":"bridge","bridge":"br0","vlan":401},"broken"]}`, // skipped whole
		`not json`,
		``,
	}
	var full fakeNADs
	for i, c := range configs {
		for _, ns := range []string{"vms", "tenant"} {
			d := testNAD(ns, fmt.Sprintf("nad-%d", i), c)
			d.UID = types.UID(fmt.Sprintf("uid-%s-%d", ns, i))
			d.ResourceVersion = fmt.Sprint(1000 + i)
			d.Labels = map[string]string{"app": "x"}
			d.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": c}
			d.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply}}
			full = append(full, d)
		}
	}
	slimmer := slimNAD("br0")
	var slim fakeNADs
	for _, d := range full {
		o, err := slimmer(d.DeepCopy())
		if err != nil {
			t.Fatal(err)
		}
		s := o.(*cniv1.NetworkAttachmentDefinition)
		if s.Namespace != d.Namespace || s.Name != d.Name || s.UID != d.UID || s.ResourceVersion != d.ResourceVersion {
			t.Fatalf("%s/%s: the slim object lost its identity: %+v", d.Namespace, d.Name, s.ObjectMeta)
		}
		if s.Labels != nil || s.Annotations != nil || s.ManagedFields != nil {
			t.Fatalf("%s/%s: kept metadata the agent never reads: %+v", d.Namespace, d.Name, s.ObjectMeta)
		}
		if again, _ := slimmer(s.DeepCopy()); !reflect.DeepEqual(again, s) {
			t.Fatalf("%s/%s: not idempotent: %+v, then %+v", d.Namespace, d.Name, s, again)
		}
		slim = append(slim, s)
	}
	// Only the configs that count for br0 are kept.
	kept := 0
	for _, s := range slim {
		if s.Spec.Config != "" {
			kept++
		}
	}
	if want := 2 * 7; kept != want {
		t.Errorf("kept %d configs, want %d (those with br0 VLANs or a good br0 MTU)", kept, want)
	}
	for _, cn := range []*v1alpha1.ClusterNetwork{nil, {Spec: v1alpha1.ClusterNetworkSpec{NADNamespaces: []string{"tenant"}}}} {
		network := func() *v1alpha1.ClusterNetwork { return cn }
		wantV, wantM, err1 := (&nadVLANs{cache: full, bridge: "br0", network: network}).compute()
		gotV, gotM, err2 := (&nadVLANs{cache: slim, bridge: "br0", network: network}).compute()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if !slices.Equal(gotV, wantV) || !slices.Equal(gotM, wantM) {
			t.Errorf("allow-list %v: slim NADs give %v %v, full ones %v %v", cn, gotV, gotM, wantV, wantM)
		}
		if len(wantV) == 0 || len(wantM) == 0 {
			t.Errorf("allow-list %v: the fixture asks for nothing (%v %v): the test would prove nothing", cn, wantV, wantM)
		}
	}
	// A tombstone is passed on as it is (client-go does not transform them).
	tomb := cache.DeletedFinalStateUnknown{Key: "vms/nad-0", Obj: slim[0]}
	if o, err := slimmer(tomb); err != nil || !reflect.DeepEqual(o, tomb) {
		t.Errorf("tombstone became %+v, %v", o, err)
	}
}

// A recompute reuses what it parsed before for the configs still in use,
// follows a changed or deleted NAD exactly, and forgets configs no NAD
// uses any more.
func TestNADVLANsMemo(t *testing.T) {
	a := testNAD("vms", "a", `{"type":"bridge","bridge":"br0","vlan":100}`)
	b := testNAD("vms", "b", `{"type":"bridge","bridge":"br0","vlan":200,"mtu":9000}`)
	c := testNAD("vms", "c", `{"type":"bridge","bridge":"br0","vlan":200,"mtu":9000}`) // b's config
	vl := &nadVLANs{cache: fakeNADs{a, b, c}, bridge: "br0", network: func() *v1alpha1.ClusterNetwork { return nil }}
	check := func(step string, wantV []int, wantM []desired.NADMTU, wantMemo int) {
		t.Helper()
		v, m, err := vl.compute()
		if err != nil || !slices.Equal(v, wantV) || !slices.Equal(m, wantM) {
			t.Fatalf("%s: compute() = %v %v %v; want %v %v", step, v, m, err, wantV, wantM)
		}
		if len(vl.memo) != wantMemo {
			t.Fatalf("%s: %d configs remembered, want %d", step, len(vl.memo), wantMemo)
		}
	}
	check("first", []int{100, 200}, []desired.NADMTU{{NAD: "vms/b", MTU: 9000}, {NAD: "vms/c", MTU: 9000}}, 2)
	parsedB := vl.memo[b.Spec.Config]
	a2 := testNAD("vms", "a", `{"type":"bridge","bridge":"br0","vlan":101}`)
	vl.cache = fakeNADs{a2, b, c}
	check("a changed", []int{101, 200}, []desired.NADMTU{{NAD: "vms/b", MTU: 9000}, {NAD: "vms/c", MTU: 9000}}, 2)
	if vl.memo[b.Spec.Config] != parsedB {
		t.Fatal("b's unchanged config was parsed again")
	}
	if _, ok := vl.memo[a.Spec.Config]; ok {
		t.Fatal("a's old config is still remembered")
	}
	vl.cache = fakeNADs{a2, c}
	check("b deleted", []int{101, 200}, []desired.NADMTU{{NAD: "vms/c", MTU: 9000}}, 2)
	vl.cache = fakeNADs{a2}
	check("c deleted", []int{101}, nil, 1)
	vl.cache = fakeNADs{a2, testNAD("vms", "bad", `{"type":"bridge","bridge":"br0","vlan":0,"vlanTrunk":[{"id":5000}]}`)}
	check("a bad config is remembered as bad", []int{101}, nil, 2)
}
