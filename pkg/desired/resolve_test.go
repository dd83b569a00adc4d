package desired

import (
	"reflect"
	"testing"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// resolveHost has two NICs with burnt-in MACs and PCI slots, a dual-port
// card whose two ports share one PCI function, a veth without either, and
// a bond whose slave carries the bond's MAC but keeps its permanent one.
func resolveHost() *hoststate.State {
	return &hoststate.State{Links: []hoststate.Link{
		{Name: "lo", Index: 1, Type: "device", Loopback: true},
		{Name: "ens3", Index: 2, Type: "device", MAC: "52:54:00:00:00:03", PermanentMAC: "52:54:00:00:00:03", PCIAddress: "0000:00:03.0"},
		{Name: "ens4", Index: 3, Type: "device", MAC: "02:00:00:00:00:99", PermanentMAC: "52:54:00:00:00:04", PCIAddress: "0000:00:04.0"},
		{Name: "p1p1", Index: 4, Type: "device", PermanentMAC: "0c:42:a1:00:00:01", PCIAddress: "0000:81:00.0"},
		{Name: "p1p2", Index: 5, Type: "device", PermanentMAC: "0c:42:a1:00:00:02", PCIAddress: "0000:81:00.0"},
		{Name: "veth0", Index: 6, Type: "veth", MAC: "52:54:00:00:00:06"},
		{Name: "bond0", Index: 7, Type: "bond", MAC: "52:54:00:00:00:07"},
		{Name: "ens5", Index: 8, Type: "device", MAC: "52:54:00:00:00:07", PermanentMAC: "52:54:00:00:00:05", PCIAddress: "0000:00:05.0", MasterIndex: 7},
	}}
}

func TestResolveNICs(t *testing.T) {
	byName := func(n string) v1alpha1.NICRef { return v1alpha1.NICRef{Name: n} }
	byMAC := func(m string) v1alpha1.NICRef { return v1alpha1.NICRef{MAC: m} }
	byPCI := func(p string) v1alpha1.NICRef { return v1alpha1.NICRef{PCIAddress: p} }
	tests := []struct {
		name     string
		refs     []v1alpha1.NICRef
		want     []string // today's names, one per ref ("" unresolved)
		messages []string // one per ref, "" for none
		reason   string   // "" for success
	}{
		{name: "no refs", refs: nil, want: []string{}},
		{name: "by name", refs: []v1alpha1.NICRef{byName("ens3")}, want: []string{"ens3"}},
		{name: "by permanent MAC", refs: []v1alpha1.NICRef{byMAC("52:54:00:00:00:04")}, want: []string{"ens4"}},
		{name: "MAC is case-insensitive", refs: []v1alpha1.NICRef{byMAC("0C:42:A1:00:00:02")}, want: []string{"p1p2"}},
		{name: "by PCI address", refs: []v1alpha1.NICRef{byPCI("0000:00:03.0")}, want: []string{"ens3"}},
		{name: "PCI is case-insensitive", refs: []v1alpha1.NICRef{byPCI("0000:00:0A.0")}, want: []string{""}, reason: ReasonNICNotFound,
			messages: []string{"no NIC on this node has the PCI address 0000:00:0A.0; pick one from status.nics"}},
		{name: "the current MAC is not the permanent one",
			refs: []v1alpha1.NICRef{byMAC("02:00:00:00:00:99")}, want: []string{""}, reason: ReasonNICNotFound,
			messages: []string{"no NIC on this node has the permanent MAC 02:00:00:00:00:99; pick one from status.nics"}},
		{name: "a bond slave is found by its own permanent MAC, not the bond's",
			refs: []v1alpha1.NICRef{byMAC("52:54:00:00:00:05")}, want: []string{"ens5"}},
		{name: "a veth has no permanent MAC to match",
			refs: []v1alpha1.NICRef{byMAC("52:54:00:00:00:06")}, want: []string{""}, reason: ReasonNICNotFound,
			messages: []string{"no NIC on this node has the permanent MAC 52:54:00:00:00:06; pick one from status.nics"}},
		{name: "missing name", refs: []v1alpha1.NICRef{byName("eth9")}, want: []string{""}, reason: ReasonNICNotFound,
			messages: []string{`no NIC on this node has the name "eth9"; pick one from status.nics`}},
		{name: "an empty ref", refs: []v1alpha1.NICRef{{}}, want: []string{""}, reason: ReasonNICNotFound,
			messages: []string{"no NIC on this node has no name, MAC or PCI address; pick one from status.nics"}},
		{name: "mixed, in the spec's order",
			refs: []v1alpha1.NICRef{byPCI("0000:00:04.0"), byName("veth0"), byMAC("52:54:00:00:00:03")},
			want: []string{"ens4", "veth0", "ens3"}},
		{name: "two refs naming the same NIC",
			refs: []v1alpha1.NICRef{byName("ens3"), byMAC("52:54:00:00:00:03")}, want: []string{"ens3", ""}, reason: ReasonNICAmbiguous,
			messages: []string{"", `names NIC "ens3", which nics[0] names too`}},
		{name: "the same ref twice",
			refs: []v1alpha1.NICRef{byPCI("0000:00:05.0"), byPCI("0000:00:05.0")}, want: []string{"ens5", ""}, reason: ReasonNICAmbiguous,
			messages: []string{"", `names NIC "ens5", which nics[0] names too`}},
		{name: "a PCI function with two ports",
			refs: []v1alpha1.NICRef{byPCI("0000:81:00.0")}, want: []string{""}, reason: ReasonNICAmbiguous,
			messages: []string{"the PCI address 0000:81:00.0 belongs to several NICs (p1p1, p1p2); name one by its name or permanent MAC"}},
		{name: "the first failure is the error, every ref is resolved",
			refs: []v1alpha1.NICRef{byName("eth9"), byName("ens3"), byName("ens3")}, want: []string{"", "ens3", ""}, reason: ReasonNICNotFound,
			messages: []string{`no NIC on this node has the name "eth9"; pick one from status.nics`, "", `names NIC "ens3", which nics[1] names too`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, names, err := ResolveNICs(tt.refs, resolveHost())
			if len(got) != len(tt.refs) {
				t.Fatalf("%d resolutions for %d refs", len(got), len(tt.refs))
			}
			var gotNames, gotMsgs []string
			for i, r := range got {
				if r.Ref != tt.refs[i] {
					t.Errorf("resolution %d is of %+v, want %+v", i, r.Ref, tt.refs[i])
				}
				gotNames = append(gotNames, r.Name)
				gotMsgs = append(gotMsgs, r.Message)
			}
			if len(tt.refs) > 0 && !reflect.DeepEqual(gotNames, tt.want) {
				t.Errorf("names %q, want %q", gotNames, tt.want)
			}
			if tt.messages != nil && !reflect.DeepEqual(gotMsgs, tt.messages) {
				t.Errorf("messages %q, want %q", gotMsgs, tt.messages)
			}
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if !reflect.DeepEqual(names, tt.want) {
					t.Errorf("resolved %q, want %q", names, tt.want)
				}
				for _, m := range gotMsgs {
					if m != "" {
						t.Errorf("message %q on success", m)
					}
				}
				return
			}
			ie, ok := AsInvalid(err)
			if !ok || ie.Reason != tt.reason {
				t.Fatalf("error %v, want reason %s", err, tt.reason)
			}
			if names != nil {
				t.Errorf("names %q on error, want nil", names)
			}
		})
	}
}

// The error names the first failing entry by its index, so the condition
// points at the field to fix.
func TestResolveNICsErrorNamesTheField(t *testing.T) {
	_, _, err := ResolveNICs([]v1alpha1.NICRef{{Name: "ens3"}, {MAC: "52:54:00:00:00:99"}}, resolveHost())
	want := "spec.network.uplink.nics[1]: no NIC on this node has the permanent MAC 52:54:00:00:00:99; pick one from status.nics"
	if err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}
