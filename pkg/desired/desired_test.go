package desired

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

var testOpts = Options{BridgeName: "br0", UplinkTypes: []string{"device", "bond"}}

func spec(typ v1alpha1.NetworkType, nic string) v1alpha1.NodeSpec {
	return v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: typ, NIC: nic}}
}

func TestCompute(t *testing.T) {
	vlan := v1alpha1.NetworkTypeVLAN
	tests := []struct {
		name    string
		in      Input
		want    State
		wantErr string // InvalidError reason; "" for success
	}{
		{
			name: "empty type tears down",
			in:   Input{Spec: spec("", "eth0"), VLANs: []int{10}},
			want: State{Teardown: true, Bridge: "br0"},
		},
		{
			name: "deleted tears down",
			in:   Input{Spec: spec(vlan, "eth0"), Deleted: true, VLANs: []int{10}},
			want: State{Teardown: true, Bridge: "br0"},
		},
		{
			name: "deleted wins over an invalid spec",
			in:   Input{Spec: spec("vxlan", "bad/name"), Deleted: true, VLANs: []int{0}},
			want: State{Teardown: true, Bridge: "br0"},
		},
		{
			name:    "unknown type",
			in:      Input{Spec: spec("vxlan", "eth0")},
			wantErr: ReasonInvalidSpec,
		},
		{
			name:    "type is case sensitive",
			in:      Input{Spec: spec("VLAN", "eth0")},
			wantErr: ReasonInvalidSpec,
		},
		{
			name: "empty NIC is a bridge without uplink",
			in:   Input{Spec: spec(vlan, ""), VLANs: []int{10}},
			want: State{Bridge: "br0", VLANs: []int{10}},
		},
		{
			name: "plain NIC",
			in:   Input{Spec: spec(vlan, "eth0")},
			want: State{Bridge: "br0", Uplink: "eth0", VLANs: []int{}},
		},
		{
			name: "NIC of 15 bytes",
			in:   Input{Spec: spec(vlan, "enp0s31f6abcdef")},
			want: State{Bridge: "br0", Uplink: "enp0s31f6abcdef", VLANs: []int{}},
		},
		{
			name:    "NIC of 16 bytes",
			in:      Input{Spec: spec(vlan, "enp0s31f6abcdefg")},
			wantErr: ReasonInvalidNIC,
		},
		{name: "NIC with slash", in: Input{Spec: spec(vlan, "eth/0")}, wantErr: ReasonInvalidNIC},
		{name: "NIC with colon", in: Input{Spec: spec(vlan, "eth0:1")}, wantErr: ReasonInvalidNIC},
		{name: "NIC with space", in: Input{Spec: spec(vlan, "eth 0")}, wantErr: ReasonInvalidNIC},
		{name: "NIC with tab", in: Input{Spec: spec(vlan, "eth0\t")}, wantErr: ReasonInvalidNIC},
		{name: "NIC with NUL", in: Input{Spec: spec(vlan, "eth\x000")}, wantErr: ReasonInvalidNIC},
		{name: "NIC with DEL", in: Input{Spec: spec(vlan, "eth\x7f")}, wantErr: ReasonInvalidNIC},
		{name: "NIC dot", in: Input{Spec: spec(vlan, ".")}, wantErr: ReasonInvalidNIC},
		{name: "NIC is the bridge", in: Input{Spec: spec(vlan, "br0")}, wantErr: ReasonInvalidNIC},
		{
			name: "VLANs sorted and deduplicated, VID 1 dropped",
			in:   Input{Spec: spec(vlan, "eth0"), VLANs: []int{4094, 20, 1, 10, 20, 2, 1, 10}},
			want: State{Bridge: "br0", Uplink: "eth0", VLANs: []int{2, 10, 20, 4094}},
		},
		{
			name: "only VID 1",
			in:   Input{Spec: spec(vlan, "eth0"), VLANs: []int{1}},
			want: State{Bridge: "br0", Uplink: "eth0", VLANs: []int{}},
		},
		{name: "VID 0", in: Input{Spec: spec(vlan, "eth0"), VLANs: []int{10, 0}}, wantErr: ReasonInvalidVLAN},
		{name: "VID 4095", in: Input{Spec: spec(vlan, "eth0"), VLANs: []int{4095}}, wantErr: ReasonInvalidVLAN},
		{name: "negative VID", in: Input{Spec: spec(vlan, "eth0"), VLANs: []int{-10}}, wantErr: ReasonInvalidVLAN},
		{
			name:    "bad VID with no NIC",
			in:      Input{Spec: spec(vlan, ""), VLANs: []int{5000}},
			wantErr: ReasonInvalidVLAN,
		},
		{
			name:    "NIC is checked before VLANs",
			in:      Input{Spec: spec(vlan, "a/b"), VLANs: []int{5000}},
			wantErr: ReasonInvalidNIC,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Compute(tt.in, testOpts)
			if tt.wantErr != "" {
				ie, ok := AsInvalid(err)
				if !ok {
					t.Fatalf("Compute() error = %v, want an InvalidError with reason %s", err, tt.wantErr)
				}
				if ie.Reason != tt.wantErr {
					t.Errorf("Compute() reason = %q (%s), want %q", ie.Reason, ie.Message, tt.wantErr)
				}
				if ie.Message == "" || ie.Error() != ie.Message {
					t.Errorf("Compute() message = %q, Error() = %q", ie.Message, ie.Error())
				}
				if !equalState(got, State{}) {
					t.Errorf("Compute() on error returned %+v, want the zero State", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Compute() error = %v", err)
			}
			if !equalState(got, tt.want) {
				t.Errorf("Compute() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func equalState(a, b State) bool {
	return a.Teardown == b.Teardown && a.Bridge == b.Bridge && a.Uplink == b.Uplink && slices.Equal(a.VLANs, b.VLANs)
}

func TestComputeMessages(t *testing.T) {
	tests := []struct {
		spec  v1alpha1.NodeSpec
		vlans []int
		want  string
	}{
		{spec("vxlan", ""), nil, `spec.network.type "vxlan" is not supported; use "vlan" or leave it empty`},
		{spec("vlan", "br0"), nil, `spec.network.nic "br0" is the VLAN bridge itself; name the physical NIC to enslave to it`},
		{spec("vlan", "a:b"), nil, `spec.network.nic: interface name "a:b" must not contain '/' or ':'`},
		{spec("vlan", "eth0"), []int{4095}, `VLAN ID 4095 is outside 1..4094`},
	}
	for _, tt := range tests {
		_, err := Compute(Input{Spec: tt.spec, VLANs: tt.vlans}, testOpts)
		if err == nil || err.Error() != tt.want {
			t.Errorf("Compute(%+v, %v) error = %v, want %q", tt.spec, tt.vlans, err, tt.want)
		}
	}
}

func TestComputeDoesNotModifyInput(t *testing.T) {
	in := []int{30, 10, 20, 10}
	if _, err := Compute(Input{Spec: spec("vlan", "eth0"), VLANs: in}, testOpts); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(in, []int{30, 10, 20, 10}) {
		t.Errorf("Compute modified its input VLANs: %v", in)
	}
}

func TestAsInvalid(t *testing.T) {
	base := Invalidf(ReasonNICNotFound, "NIC %q is gone", "eth9")
	tests := []struct {
		name   string
		err    error
		ok     bool
		reason string
	}{
		{"nil", nil, false, ""},
		{"plain error", errors.New("boom"), false, ""},
		{"invalid", base, true, ReasonNICNotFound},
		{"wrapped", fmt.Errorf("checking: %w", base), true, ReasonNICNotFound},
	}
	for _, tt := range tests {
		ie, ok := AsInvalid(tt.err)
		if ok != tt.ok {
			t.Errorf("%s: AsInvalid ok = %v, want %v", tt.name, ok, tt.ok)
			continue
		}
		if ok && (ie.Reason != tt.reason || ie.Message != `NIC "eth9" is gone`) {
			t.Errorf("%s: AsInvalid = %+v", tt.name, ie)
		}
	}
}

func TestValidateLinkName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // substring of the error; "" for valid
	}{
		{"eth0", ""},
		{"a", ""},
		{"eth0.100", ""},
		{"bond0", ""},
		{"enp0s31f6-abcde", ""}, // 15 bytes
		{"a.b", ""},
		{"...", ""},
		{"ééééééé", ""}, // 14 bytes
		{"", "is empty"},
		{"enp0s31f6-abcdef", "is 16 bytes; Linux allows at most 15"},
		{"éééééééé", "is 16 bytes"},
		{".", "is not allowed"},
		{"..", "is not allowed"},
		{"eth/0", "must not contain '/' or ':'"},
		{"/", "must not contain '/' or ':'"},
		{"eth0:1", "must not contain '/' or ':'"},
		{"eth 0", "whitespace or control"},
		{" eth0", "whitespace or control"},
		{"eth0\n", "whitespace or control"},
		{"eth\t0", "whitespace or control"},
		{"eth\v0", "whitespace or control"},
		{"eth\r0", "whitespace or control"},
		{"eth\x00", "whitespace or control"},
		{"eth\x1b", "whitespace or control"},
		{"eth\x7f", "whitespace or control"},
		{"eth\u00a0", "whitespace or control"}, // no-break space
		{"eth\u2028", "whitespace or control"}, // line separator
		{"eth\u200b", "whitespace or control"}, // zero width space (format char)
	}
	for _, tt := range tests {
		err := ValidateLinkName(tt.name)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ValidateLinkName(%q) = %v, want nil", tt.name, err)
		case tt.wantErr != "" && err == nil:
			t.Errorf("ValidateLinkName(%q) = nil, want an error containing %q", tt.name, tt.wantErr)
		case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
			t.Errorf("ValidateLinkName(%q) = %v, want an error containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // exact error, "" for valid
	}{
		{"defaults", Options{BridgeName: DefaultBridge, UplinkTypes: DefaultUplinkTypes}, ""},
		{"all types", Options{BridgeName: "br0", UplinkTypes: []string{"device", "bond", "veth", "macvlan", "vxlan", "dummy", "team"}}, ""},
		{"veth only", Options{BridgeName: "br0", UplinkTypes: []string{"veth"}}, ""},
		{"empty bridge", Options{UplinkTypes: []string{"device"}}, "bridge name: interface name is empty"},
		{"bridge with colon", Options{BridgeName: "br:0", UplinkTypes: []string{"device"}}, `bridge name: interface name "br:0" must not contain '/' or ':'`},
		{"long bridge", Options{BridgeName: "harvester-br0-xx", UplinkTypes: []string{"device"}}, `bridge name: interface name "harvester-br0-xx" is 16 bytes; Linux allows at most 15`},
		{"no types", Options{BridgeName: "br0"}, "uplink types: at least one link type is needed"},
		{"empty types", Options{BridgeName: "br0", UplinkTypes: []string{}}, "uplink types: at least one link type is needed"},
		{"unknown type", Options{BridgeName: "br0", UplinkTypes: []string{"device", "wifi"}}, `uplink types: "wifi" is not a link type harvnet can use as uplink`},
		{"bridge type", Options{BridgeName: "br0", UplinkTypes: []string{"bridge"}}, `uplink types: "bridge" is not a link type harvnet can use as uplink`},
		{"case matters", Options{BridgeName: "br0", UplinkTypes: []string{"Device"}}, `uplink types: "Device" is not a link type harvnet can use as uplink`},
	}
	for _, tt := range tests {
		err := tt.opts.Validate()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%s: Validate() = %q, want %q", tt.name, got, tt.want)
		}
	}
	if DefaultBridge != "harvester-br0" || !slices.Equal(DefaultUplinkTypes, []string{"device", "bond"}) {
		t.Errorf("defaults changed: %q %v", DefaultBridge, DefaultUplinkTypes)
	}
}

func TestUplinkTypeAllowed(t *testing.T) {
	tests := []struct {
		kind string
		want bool
	}{{"device", true}, {"bond", true}, {"veth", false}, {"bridge", false}, {"", false}}
	for _, tt := range tests {
		if got := testOpts.UplinkTypeAllowed(tt.kind); got != tt.want {
			t.Errorf("UplinkTypeAllowed(%q) = %v, want %v", tt.kind, got, tt.want)
		}
	}
}
