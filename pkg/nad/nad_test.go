package nad

import (
	"slices"
	"strings"
	"testing"
)

func TestVLANs(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		want    []int
		wantErr string // substring of the error; "" for success
	}{
		{
			name:   "harvester style access VLAN",
			config: `{"cniVersion":"0.3.1","name":"vlan100","type":"bridge","bridge":"br0","promiscMode":true,"vlan":100,"ipam":{}}`,
			want:   []int{100},
		},
		{
			name:   "vlan plus trunk ranges and ids, sorted and deduplicated",
			config: `{"type":"bridge","bridge":"br0","vlan":30,"vlanTrunk":[{"minID":10,"maxID":12},{"id":20},{"id":11},{"id":30},{"minID":4093,"maxID":4094}]}`,
			want:   []int{10, 11, 12, 20, 30, 4093, 4094},
		},
		{
			name:   "trunk only",
			config: `{"type":"bridge","bridge":"br0","vlanTrunk":[{"id":5},{"minID":7,"maxID":7}]}`,
			want:   []int{5, 7},
		},
		{
			name:   "vlan 1 is kept here",
			config: `{"type":"bridge","bridge":"br0","vlan":1}`,
			want:   []int{1},
		},
		{
			name:   "vlan 0 means no vlan",
			config: `{"type":"bridge","bridge":"br0","vlan":0}`,
			want:   nil,
		},
		{
			name:   "no vlan at all",
			config: `{"type":"bridge","bridge":"br0"}`,
			want:   nil,
		},
		{
			name:   "empty trunk",
			config: `{"type":"bridge","bridge":"br0","vlanTrunk":[]}`,
			want:   nil,
		},
		{
			name:   "another bridge asks nothing",
			config: `{"type":"bridge","bridge":"br1","vlan":100}`,
			want:   nil,
		},
		{
			name:   "bridge name is case sensitive",
			config: `{"type":"bridge","bridge":"BR0","vlan":100}`,
			want:   nil,
		},
		{
			name:   "bridge plugin with default bridge",
			config: `{"type":"bridge","vlan":100}`,
			want:   nil,
		},
		{
			name:   "another plugin asks nothing",
			config: `{"type":"macvlan","master":"br0","bridge":"br0","vlan":100}`,
			want:   nil,
		},
		{
			name:   "another plugin with out of range VIDs asks nothing",
			config: `{"type":"ovs","bridge":"br0","vlan":5000,"vlanTrunk":[{"minID":9,"maxID":1}]}`,
			want:   nil,
		},
		{name: "bad JSON", config: `{"type":"bridge",`, wantErr: "not valid JSON"},
		{name: "empty config", config: ``, wantErr: "not valid JSON"},
		{name: "vlan as string", config: `{"type":"bridge","bridge":"br0","vlan":"100"}`, wantErr: "not valid JSON"},
		{name: "vlan 4095", config: `{"type":"bridge","bridge":"br0","vlan":4095}`, wantErr: "vlan: VLAN ID 4095 is outside 1..4094"},
		{name: "negative vlan", config: `{"type":"bridge","bridge":"br0","vlan":-1}`, wantErr: "vlan: VLAN ID -1 is outside 1..4094"},
		{
			name:    "minID greater than maxID",
			config:  `{"type":"bridge","bridge":"br0","vlanTrunk":[{"id":3},{"minID":20,"maxID":10}]}`,
			wantErr: "vlanTrunk[1]: minID 20 is greater than maxID 10",
		},
		{
			name:    "trunk item with both id and minID",
			config:  `{"type":"bridge","bridge":"br0","vlanTrunk":[{"id":5,"minID":1,"maxID":10}]}`,
			wantErr: "vlanTrunk[0]: give either id, or both minID and maxID",
		},
		{
			name:    "trunk item with id and minID only",
			config:  `{"type":"bridge","bridge":"br0","vlanTrunk":[{"id":5,"minID":1}]}`,
			wantErr: "vlanTrunk[0]: give either id, or both minID and maxID",
		},
		{
			name:    "missing maxID",
			config:  `{"type":"bridge","bridge":"br0","vlanTrunk":[{"minID":10}]}`,
			wantErr: "vlanTrunk[0]: give either id, or both minID and maxID",
		},
		{
			name:    "missing minID",
			config:  `{"type":"bridge","bridge":"br0","vlanTrunk":[{"maxID":10}]}`,
			wantErr: "vlanTrunk[0]: give either id, or both minID and maxID",
		},
		{
			name:    "empty trunk item",
			config:  `{"type":"bridge","bridge":"br0","vlanTrunk":[{}]}`,
			wantErr: "vlanTrunk[0]: give either id, or both minID and maxID",
		},
		{name: "trunk id 0", config: `{"type":"bridge","bridge":"br0","vlanTrunk":[{"id":0}]}`, wantErr: "vlanTrunk[0].id: VLAN ID 0 is outside"},
		{name: "trunk id 4095", config: `{"type":"bridge","bridge":"br0","vlanTrunk":[{"id":4095}]}`, wantErr: "vlanTrunk[0].id: VLAN ID 4095 is outside"},
		{name: "trunk minID 0", config: `{"type":"bridge","bridge":"br0","vlanTrunk":[{"minID":0,"maxID":5}]}`, wantErr: "vlanTrunk[0].minID: VLAN ID 0 is outside"},
		{name: "trunk maxID 4095", config: `{"type":"bridge","bridge":"br0","vlanTrunk":[{"minID":1,"maxID":4095}]}`, wantErr: "vlanTrunk[0].maxID: VLAN ID 4095 is outside"},
		{name: "good vlan with a bad trunk", config: `{"type":"bridge","bridge":"br0","vlan":10,"vlanTrunk":[{"id":9999}]}`, wantErr: "vlanTrunk[0].id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := VLANs(tt.config, "br0")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("VLANs() = %v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("VLANs() returned %v with its error, want nil", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("VLANs() error = %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("VLANs() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVLANsFromNADConfigFullTrunk(t *testing.T) {
	got, err := VLANs(`{"type":"bridge","bridge":"br0","vlanTrunk":[{"minID":1,"maxID":4094}]}`, "br0")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4094 || got[0] != 1 || got[4093] != 4094 {
		t.Errorf("full trunk: len %d, first %d, last %d", len(got), got[0], got[len(got)-1])
	}
}

// A config for another plugin "asks for nothing" even when its own schema
// gives "vlan" or "vlanTrunk" another JSON type than the bridge plugin does:
// it is not malformed, it is just not ours.
func TestVLANsFromNADConfigOtherPluginSchema(t *testing.T) {
	for _, config := range []string{
		`{"type":"someplugin","bridge":"br0","vlan":"100"}`,
		`{"type":"someplugin","vlanTrunk":"10-20"}`,
		`{"type":"bridge","bridge":"br1","vlanTrunk":{"from":10}}`,
	} {
		got, err := VLANs(config, "br0")
		if err != nil || got != nil {
			t.Errorf("VLANs(%s) = %v, %v; want nil, nil", config, got, err)
		}
	}
}
