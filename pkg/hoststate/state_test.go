package hoststate

import (
	"slices"
	"testing"
)

func TestTaggedVLANs(t *testing.T) {
	for _, tc := range []struct {
		name  string
		vlans []VLAN
		want  []int
	}{
		{name: "none", want: nil},
		{name: "only the default", vlans: []VLAN{{VID: 1, PVID: true, Untagged: true}}, want: nil},
		{name: "in the kernel's order", vlans: []VLAN{{VID: 1, PVID: true, Untagged: true}, {VID: 10}, {VID: 20}, {VID: 4094}}, want: []int{10, 20, 4094}},
		{name: "PVID left out", vlans: []VLAN{{VID: 5}, {VID: 7, PVID: true}, {VID: 9, Untagged: true}}, want: []int{5, 9}},
		{name: "out of order", vlans: []VLAN{{VID: 30}, {VID: 10}, {VID: 20}}, want: []int{10, 20, 30}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &State{PortVLANs: map[string][]VLAN{"eth1": tc.vlans}}
			if got := s.TaggedVLANs("eth1"); !slices.Equal(got, tc.want) || (tc.want == nil) != (got == nil) {
				t.Fatalf("TaggedVLANs = %#v, want %#v", got, tc.want)
			}
		})
	}
}
