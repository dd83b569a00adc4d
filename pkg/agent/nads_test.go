package agent

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

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
