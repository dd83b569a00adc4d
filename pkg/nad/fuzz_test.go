package nad

import "testing"

func FuzzVLANs(f *testing.F) {
	for _, seed := range []struct{ config, bridge string }{
		{`{"cniVersion":"0.3.1","name":"vlan100","type":"bridge","bridge":"br0","promiscMode":true,"vlan":100,"ipam":{}}`, "br0"},
		{`{"type":"bridge","bridge":"br0","vlan":30,"vlanTrunk":[{"minID":10,"maxID":12},{"id":20},{"id":11}]}`, "br0"},
		{`{"type":"bridge","bridge":"br0","vlanTrunk":[{"minID":4090,"maxID":4094},{"id":1}]}`, "br0"},
		{`{"type":"bridge","bridge":"br0","vlan":0}`, "br0"},
		{`{"type":"bridge","bridge":"br0","vlan":4095}`, "br0"},
		{`{"type":"bridge","bridge":"br0","vlan":-1}`, "br0"},
		{`{"type":"bridge","bridge":"br0","vlanTrunk":[{"minID":20,"maxID":10}]}`, "br0"},
		{`{"type":"bridge","bridge":"br0","vlanTrunk":[{"id":5,"minID":1,"maxID":10}]}`, "br0"},
		{`{"type":"bridge","bridge":"br0","vlanTrunk":[{"minID":10}]}`, "br0"},
		{`{"type":"bridge","bridge":"br1","vlan":100}`, "br0"},
		{`{"type":"macvlan","master":"eth0"}`, "br0"},
		{`{"type":"bridge",`, "br0"},
		{`null`, "br0"},
		{`[]`, ""},
	} {
		f.Add(seed.config, seed.bridge)
	}
	f.Fuzz(func(t *testing.T, config, bridge string) {
		got, err := VLANs(config, bridge)
		if err != nil {
			if got != nil {
				t.Fatalf("returned %v with error %v", got, err)
			}
			return
		}
		for i, v := range got {
			if v < MinVLAN || v > MaxVLAN {
				t.Fatalf("VID %d outside %d..%d in %v", v, MinVLAN, MaxVLAN, got)
			}
			if i > 0 && got[i-1] >= v {
				t.Fatalf("output not sorted or has duplicates: %v", got)
			}
		}
	})
}
