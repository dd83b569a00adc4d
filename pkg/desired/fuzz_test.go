package desired

import (
	"encoding/binary"
	"strings"
	"testing"
	"unicode"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

func FuzzValidateLinkName(f *testing.F) {
	for _, s := range []string{
		"eth0", "enp0s31f6", "bond0.100", "harvester-br0", "enp0s31f6-abcde", "enp0s31f6-abcdef",
		"", ".", "..", "...", "eth/0", "eth0:1", "eth 0", "eth\t0", "eth\x00", "eth\x7f", "é", "eth\u00a0", "\xff\xfe",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidateLinkName(name) != nil {
			return
		}
		if len(name) < 1 || len(name) > MaxLinkName {
			t.Fatalf("accepted %q of %d bytes", name, len(name))
		}
		if name == "." || name == ".." {
			t.Fatalf("accepted %q", name)
		}
		if strings.ContainsAny(name, "/:") {
			t.Fatalf("accepted %q with '/' or ':'", name)
		}
		if strings.IndexFunc(name, unicode.IsSpace) >= 0 {
			t.Fatalf("accepted %q with whitespace", name)
		}
		for i := 0; i < len(name); i++ {
			if c := name[i]; c < 0x20 || c == 0x7f {
				t.Fatalf("accepted %q with control byte %#x", name, c)
			}
		}
	})
}

// vlansFromBytes reads big-endian int16s, so the fuzzer reaches 0, 1, 4094,
// 4095 and negative IDs alike.
func vlansFromBytes(b []byte) []int {
	var out []int
	for ; len(b) >= 2; b = b[2:] {
		out = append(out, int(int16(binary.BigEndian.Uint16(b))))
	}
	return out
}

func vlanBytes(vids ...int) []byte {
	var b []byte
	for _, v := range vids {
		b = binary.BigEndian.AppendUint16(b, uint16(int16(v)))
	}
	return b
}

func FuzzCompute(f *testing.F) {
	f.Add("vlan", "eth0", false, vlanBytes(10, 20, 1, 20, 4094))
	f.Add("vlan", "", false, vlanBytes(100))
	f.Add("vlan", "br0", false, vlanBytes())
	f.Add("vlan", "eth0", false, vlanBytes(0))
	f.Add("vlan", "eth0", false, vlanBytes(4095))
	f.Add("vlan", "eth0", false, vlanBytes(-1))
	f.Add("vlan", "eth/0", false, vlanBytes(10))
	f.Add("vlan", "enp0s31f6-abcdef", false, vlanBytes(10))
	f.Add("", "eth0", false, vlanBytes(10))
	f.Add("vlan", "eth0", true, vlanBytes(0))
	f.Add("vxlan", "eth0", false, vlanBytes(10))
	f.Fuzz(func(t *testing.T, typ, nic string, deleted bool, vb []byte) {
		in := Input{
			Spec:    v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkType(typ), NIC: nic}},
			Deleted: deleted,
			VLANs:   vlansFromBytes(vb),
		}
		st, err := Compute(in, testOpts)
		if err != nil {
			ie, ok := AsInvalid(err)
			if !ok {
				t.Fatalf("error %v is not an InvalidError", err)
			}
			switch ie.Reason {
			case ReasonInvalidSpec, ReasonInvalidNIC, ReasonInvalidVLAN:
			default:
				t.Fatalf("unexpected reason %q", ie.Reason)
			}
			if deleted || typ == "" {
				t.Fatalf("teardown input refused: %v", err)
			}
			return
		}
		if st.Bridge != testOpts.BridgeName {
			t.Fatalf("Bridge = %q", st.Bridge)
		}
		if st.Teardown {
			if !deleted && typ != "" {
				t.Fatalf("teardown for type %q", typ)
			}
			if st.Uplink != "" || st.VLANs != nil {
				t.Fatalf("teardown state carries %+v", st)
			}
			return
		}
		if typ != string(v1alpha1.NetworkTypeVLAN) || deleted {
			t.Fatalf("accepted type %q deleted=%v", typ, deleted)
		}
		if st.Uplink != nic {
			t.Fatalf("Uplink = %q, want %q", st.Uplink, nic)
		}
		if st.Uplink != "" {
			if err := ValidateLinkName(st.Uplink); err != nil {
				t.Fatalf("accepted uplink %q: %v", st.Uplink, err)
			}
			if st.Uplink == st.Bridge {
				t.Fatalf("accepted the bridge as uplink")
			}
		}
		want := map[int]bool{}
		for _, v := range in.VLANs {
			if v < 1 || v > 4094 {
				t.Fatalf("accepted VID %d", v)
			}
			if v != 1 {
				want[v] = true
			}
		}
		if len(st.VLANs) != len(want) {
			t.Fatalf("VLANs = %v from %v", st.VLANs, in.VLANs)
		}
		for i, v := range st.VLANs {
			if v < 2 || v > 4094 || !want[v] {
				t.Fatalf("VLANs = %v from %v", st.VLANs, in.VLANs)
			}
			if i > 0 && st.VLANs[i-1] >= v {
				t.Fatalf("VLANs not sorted and unique: %v", st.VLANs)
			}
		}
	})
}
