package nad

import (
	"strings"
	"testing"
)

func TestMTU(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		want    int
		wantErr string // substring; "" for success
	}{
		{name: "jumbo", config: `{"cniVersion":"0.3.1","name":"v100","type":"bridge","bridge":"br0","vlan":100,"mtu":9000}`, want: 9000},
		{name: "no mtu", config: `{"type":"bridge","bridge":"br0","vlan":100}`, want: 0},
		{name: "mtu 0 is none", config: `{"type":"bridge","bridge":"br0","mtu":0}`, want: 0},
		{name: "another bridge", config: `{"type":"bridge","bridge":"br1","mtu":9000}`, want: 0},
		{name: "another plugin", config: `{"type":"macvlan","master":"eth0","mtu":9000}`, want: 0},
		{name: "conflist, largest of the bridge plugins for br0",
			config: `{"cniVersion":"0.4.0","plugins":[{"type":"bridge","bridge":"br0","mtu":1500},{"type":"bridge","bridge":"br1","mtu":9216},{"type":"bridge","bridge":"br0","mtu":8000},{"type":"tuning","mtu":9100}]}`,
			want:   8000},
		{name: "largest MTU", config: `{"type":"bridge","bridge":"br0","mtu":65535}`, want: 65535},
		{name: "too large", config: `{"type":"bridge","bridge":"br0","mtu":65536}`, wantErr: "mtu: 65536 is outside 0..65535"},
		{name: "negative", config: `{"type":"bridge","bridge":"br0","mtu":-1}`, wantErr: "outside"},
		{name: "mtu as a string", config: `{"type":"bridge","bridge":"br0","mtu":"9000"}`, wantErr: "not valid JSON for the bridge plugin"},
		{name: "bad plugin entry", config: `{"plugins":[{"type":"bridge","bridge":"br0","mtu":9000},"x"]}`, wantErr: "plugins[1]"},
		{name: "bad mtu in a plugin", config: `{"plugins":[{"type":"bridge","bridge":"br0","mtu":1e9}]}`, wantErr: "plugins[0]"},
		{name: "not JSON", config: `{"type":"bridge",`, wantErr: "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MTU(tt.config, "br0")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("MTU() = %d, %v; want error containing %q", got, err, tt.wantErr)
				}
				if got != 0 {
					t.Errorf("MTU %d returned with an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("MTU() = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func FuzzMTU(f *testing.F) {
	for _, s := range []string{
		`{"type":"bridge","bridge":"br0","mtu":9000}`,
		`{"plugins":[{"type":"bridge","bridge":"br0","mtu":1500},{"type":"bridge","bridge":"br0","mtu":8000}]}`,
		`{"type":"bridge","bridge":"br0","mtu":-5}`,
		`{"type":"bridge","bridge":"br0","mtu":1.5}`,
		`null`, `[]`, `{"plugins":null}`,
	} {
		f.Add(s, "br0")
	}
	f.Fuzz(func(t *testing.T, config, bridge string) {
		got, err := MTU(config, bridge)
		if err != nil && got != 0 {
			t.Fatalf("returned %d with error %v", got, err)
		}
		if got < 0 || got > MaxMTU {
			t.Fatalf("MTU %d outside 0..%d", got, MaxMTU)
		}
	})
}
