package agent

import (
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
)

func TestNADInput(t *testing.T) {
	cn := func(st *v1alpha1.NADStatus) *v1alpha1.ClusterNetwork {
		return &v1alpha1.ClusterNetwork{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterNetworkVLAN}, Status: v1alpha1.ClusterNetworkStatus{NADs: st}}
	}
	two := &v1alpha1.NADStatus{Bridges: []v1alpha1.BridgeNADs{
		{Bridge: "br0", VLANs: "100,200-202", MTUs: []v1alpha1.NADMTU{{NAD: "vms/jumbo", MTU: 9000}}},
		{Bridge: "br1", VLANs: "300"},
	}}
	for _, tt := range []struct {
		name  string
		cn    *v1alpha1.ClusterNetwork
		want  nadAsk
		known bool
		err   string
	}{
		{name: "no ClusterNetwork: nothing known", cn: nil},
		{name: "no status.nads yet: nothing known", cn: cn(nil)},
		{name: "the cluster serves no NADs", cn: cn(&v1alpha1.NADStatus{Unavailable: "no Multus"}), want: nadAsk{unavailable: "no Multus"}, known: true},
		{name: "served, no bridge asked anything", cn: cn(&v1alpha1.NADStatus{}), known: true},
		{name: "this bridge", cn: cn(two), known: true,
			want: nadAsk{vlans: []int{100, 200, 201, 202}, mtus: []desired.NADMTU{{NAD: "vms/jumbo", MTU: 9000}}}},
		{name: "only other bridges", cn: cn(&v1alpha1.NADStatus{Bridges: two.Bridges[1:]}), known: true},
		{name: "a VLAN list that cannot be read", cn: cn(&v1alpha1.NADStatus{Bridges: []v1alpha1.BridgeNADs{{Bridge: "br0", VLANs: "100,5000"}}}),
			err: `status.nads.bridges[br0].vlans: VLAN list "100,5000"`},
		{name: "an MTU out of range", cn: cn(&v1alpha1.NADStatus{Bridges: []v1alpha1.BridgeNADs{{Bridge: "br0", VLANs: "100", MTUs: []v1alpha1.NADMTU{{NAD: "a/b", MTU: -1}}}}}),
			err: "NAD a/b: MTU -1 is outside"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, known, err := nadInput(tt.cn, "br0")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || known {
					t.Fatalf("nadInput = %+v, %v, %v; want an error saying %q and nothing known", got, known, err, tt.err)
				}
				return
			}
			if err != nil || known != tt.known || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("nadInput = %+v, %v, %v; want %+v, %v", got, known, err, tt.want, tt.known)
			}
		})
	}
}
