package doctor

import (
	"reflect"
	"testing"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
)

func TestNADMTU(t *testing.T) {
	nads := func(ms ...int) []desired.NADMTU {
		var out []desired.NADMTU
		for i, m := range ms {
			out = append(out, desired.NADMTU{NAD: "vms/n" + string(rune('a'+i)), MTU: m})
		}
		return out
	}
	tests := []struct {
		name     string
		uplink   string
		specMTU  int
		kernel   int // eth1's MTU
		nads     []desired.NADMTU
		subjects []string
		message  string // of the first, "" unchecked
	}{
		{name: "no NAD sets an mtu", uplink: "eth1", kernel: 1500},
		{name: "equal is fine", uplink: "eth1", kernel: 1500, nads: nads(1500)},
		{name: "smaller is fine", uplink: "eth1", kernel: 9000, nads: nads(1400, 9000)},
		{name: "larger than the kernel's", uplink: "eth1", kernel: 1500, nads: nads(1400, 9000, 1501), subjects: []string{"vms/nb", "vms/nc"},
			message: "NAD vms/nb gives its VMs MTU 9000 but the uplink eth1 carries 1500 (its MTU now; spec.network.mtu is not set): their frames larger than 1500 bytes are dropped; set spec.network.mtu of this node to 9000, or lower the NAD's mtu to 1500"},
		{name: "spec.network.mtu wins over the kernel's", uplink: "eth1", specMTU: 9000, kernel: 1500, nads: nads(9000)},
		{name: "larger than spec.network.mtu", uplink: "eth1", specMTU: 1500, kernel: 9000, nads: nads(9000), subjects: []string{"vms/na"},
			message: "NAD vms/na gives its VMs MTU 9000 but the uplink eth1 carries 1500 (spec.network.mtu): their frames larger than 1500 bytes are dropped; set spec.network.mtu of this node to 9000, or lower the NAD's mtu to 1500"},
		{name: "beyond what spec.network.mtu can reach", uplink: "eth1", specMTU: 9000, nads: nads(9216), subjects: []string{"vms/na"},
			message: "NAD vms/na gives its VMs MTU 9216 but the uplink eth1 carries 9000 (spec.network.mtu): their frames larger than 9000 bytes are dropped; lower the NAD's mtu to 9000, or to at most 9000 with spec.network.mtu raised as far (its maximum)"},
		{name: "no uplink: traffic stays on the node", kernel: 1500, nads: nads(9000)},
		{name: "uplink not on the host", uplink: "eth9", kernel: 1500, nads: nads(9000)},
		{name: "uplink not on the host but spec.network.mtu set", uplink: "eth9", specMTU: 1500, nads: nads(9000), subjects: []string{"vms/na"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := node()
			h.Links[2].MTU = tt.kernel
			h.Links[3].MTU = tt.kernel // the bridge follows, so BridgeMTU stays quiet
			var got []string
			var first v1alpha1.Diagnostic
			for _, d := range Run(Input{Host: h, Bridge: br, Uplink: tt.uplink, MTU: tt.specMTU, NADMTUs: tt.nads}) {
				if d.Check != CheckNADMTU {
					t.Errorf("unexpected %s/%s: %s", d.Check, d.Subject, d.Message)
					continue
				}
				if got == nil {
					first = d
				}
				got = append(got, d.Subject)
				if d.Severity != v1alpha1.SeverityError {
					t.Errorf("%s: severity %s", d.Subject, d.Severity)
				}
			}
			if !reflect.DeepEqual(got, tt.subjects) {
				t.Errorf("flagged %v, want %v", got, tt.subjects)
			}
			if tt.message != "" && first.Message != tt.message {
				t.Errorf("message\n  %s\nwant\n  %s", first.Message, tt.message)
			}
		})
	}
}
