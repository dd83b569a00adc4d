package e2e

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// The CRD's rules on spec.network.uplink, checked by the real API server
// (OpenAPI patterns, limits and CEL rules): each NIC named by exactly one of
// name, permanent MAC or PCI address, each in its form, 1 to 8 of them, a
// bond with more than one, not together with spec.network.nic, and the MTU
// range. Server-side dry run: the API server validates in full and stores
// nothing, so neither the controller nor an agent sees these objects.
func TestUplinkSpecValidation(t *testing.T) {
	nics := func(refs ...v1alpha1.NICRef) v1alpha1.NetworkSpec {
		return v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, Uplink: &v1alpha1.UplinkSpec{NICs: refs}}
	}
	byName := func(s string) v1alpha1.NICRef { return v1alpha1.NICRef{Name: s} }
	byMAC := func(s string) v1alpha1.NICRef { return v1alpha1.NICRef{MAC: s} }
	byPCI := func(s string) v1alpha1.NICRef { return v1alpha1.NICRef{PCIAddress: s} }
	bonded := func(n v1alpha1.NetworkSpec) v1alpha1.NetworkSpec {
		n.Uplink.Bond = &v1alpha1.BondOptions{}
		return n
	}
	nine := make([]v1alpha1.NICRef, 9)
	for i := range nine {
		nine[i] = byName("eth" + string(rune('0'+i)))
	}
	const exactlyOne = "name exactly one of name, mac or pciAddress"
	tests := []struct {
		name string
		net  v1alpha1.NetworkSpec
		// field and message the rejection must name; "" for accepted
		field, message string
	}{
		{name: "one NIC by name", net: nics(byName("eth1"))},
		{name: "one NIC by permanent MAC, either case", net: nics(byMAC("52:54:00:AB:cd:0f"))},
		{name: "one NIC by PCI address", net: nics(byPCI("0000:03:00.1"))},
		{name: "three NICs, one of each kind, bonded", net: bonded(nics(byName("eth1"), byMAC("52:54:00:00:00:02"), byPCI("0000:af:00.7")))},
		{name: "eight NICs", net: bonded(nics(nine[:8]...))},
		{name: "MTU 576", net: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: "eth1", MTU: 576}},
		{name: "MTU 9000", net: func() v1alpha1.NetworkSpec { n := nics(byName("eth1")); n.MTU = 9000; return n }()},

		{name: "name and MAC", net: nics(v1alpha1.NICRef{Name: "eth1", MAC: "52:54:00:00:00:01"}),
			field: "spec.network.uplink.nics[0]", message: exactlyOne},
		{name: "MAC and PCI address", net: nics(byName("eth1"), v1alpha1.NICRef{MAC: "52:54:00:00:00:01", PCIAddress: "0000:03:00.0"}),
			field: "spec.network.uplink.nics[1]", message: exactlyOne},
		{name: "all three", net: nics(v1alpha1.NICRef{Name: "eth1", MAC: "52:54:00:00:00:01", PCIAddress: "0000:03:00.0"}),
			field: "spec.network.uplink.nics[0]", message: exactlyOne},
		{name: "none", net: nics(v1alpha1.NICRef{}), field: "spec.network.uplink.nics[0]", message: exactlyOne},
		{name: "MAC with dashes", net: nics(byMAC("52-54-00-00-00-01")), field: "spec.network.uplink.nics[0].mac", message: "should match"},
		{name: "MAC too short", net: nics(byMAC("52:54:00:00:01")), field: "spec.network.uplink.nics[0].mac", message: "should match"},
		{name: "MAC with a non-hex digit", net: nics(byMAC("52:54:00:00:00:0g")), field: "spec.network.uplink.nics[0].mac", message: "should match"},
		{name: "PCI address without domain", net: nics(byPCI("03:00.0")), field: "spec.network.uplink.nics[0].pciAddress", message: "should match"},
		{name: "PCI function 8", net: nics(byPCI("0000:03:00.8")), field: "spec.network.uplink.nics[0].pciAddress", message: "should match"},
		{name: "PCI address with a trailing newline", net: nics(byPCI("0000:03:00.0\n")), field: "spec.network.uplink.nics[0].pciAddress", message: "should match"},
		{name: "name with a slash", net: nics(byName("eth/1")), field: "spec.network.uplink.nics[0].name", message: "must be a Linux interface name"},
		{name: "name of 16 bytes", net: nics(byName("enp0s31f6abcdefg")), field: "spec.network.uplink.nics[0].name", message: "15"},
		{name: "name dot", net: nics(byName(".")), field: "spec.network.uplink.nics[0].name", message: "must be a Linux interface name"},
		{name: "an empty list of NICs", net: nics([]v1alpha1.NICRef{}...), field: "spec.network.uplink.nics", message: "at least 1"},
		{name: "no list of NICs", net: nics(), field: "spec.network.uplink.nics", message: "Required value"},
		{name: "nine NICs", net: bonded(nics(nine...)), field: "spec.network.uplink.nics", message: "at most 8"},
		{name: "two NICs without a bond", net: nics(byName("eth1"), byName("eth2")), field: "spec.network.uplink.bond", message: "spec.network.uplink.bond is required with more than one NIC"},
		{name: "nic and uplink", net: func() v1alpha1.NetworkSpec { n := nics(byName("eth1")); n.NIC = "eth1"; return n }(),
			field: "spec.network", message: "set either spec.network.nic or spec.network.uplink, not both"},
		{name: "MTU 575", net: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: "eth1", MTU: 575}, field: "spec.network.mtu", message: "576"},
		{name: "MTU 9001", net: func() v1alpha1.NetworkSpec { n := nics(byName("eth1")); n.MTU = 9001; return n }(), field: "spec.network.mtu", message: "9000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &v1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: "uplinkspec"}, Spec: v1alpha1.NodeSpec{Network: tt.net}}
			_, err := cluster.Net.NetworkV1alpha1().Nodes().Create(ctx(t), n, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if tt.field == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !apierrors.IsInvalid(err) {
				t.Fatalf("got %v, want Invalid naming %s", err, tt.field)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.field+":") || !strings.Contains(msg, tt.message) {
				t.Errorf("rejected with %q, want it to name %s and say %q", msg, tt.field, tt.message)
			}
		})
	}
	// Nothing was stored.
	if _, err := cluster.Net.NetworkV1alpha1().Nodes().Get(ctx(t), "uplinkspec", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a dry-run object was stored: %v", err)
	}
}
