package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/probe"
)

var update = flag.Bool("update", false, "rewrite testdata/uplinks-v2.json (only with a new Version)")

func input(nic string, gen int64) desired.Input {
	return desired.Input{
		Spec:       v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: nic}},
		Generation: gen, VLANs: []int{100, 200}, Retry: "2",
		Probes: v1alpha1.ProbeSpec{Targets: []string{"10.11.0.53", "10.11.0.9:3260"}, TimeoutSeconds: 15},
	}
}

// mid is the state file of an agent inside the probe window of moving the
// management NIC's addresses onto the bridge, after an earlier rollback.
func mid() State {
	prev := input("eth1", 3)
	return State{
		Uplinks: map[string]plan.Carried{"eth0": mgmt()},
		Applied: &prev,
		Pending: &Pending{
			Previous: prev, Next: input("eth0", 4),
			Probes: []probe.Probe{
				{Kind: probe.ARP, Target: "10.11.0.1", Gateway: true}, {Kind: probe.ICMP, Target: "10.11.0.1", Gateway: true},
				{Kind: probe.API}, {Kind: probe.TCP, Target: "10.11.0.9:3260"},
			},
			Deadline: time.Date(2026, 11, 30, 12, 0, 10, 500, time.UTC),
			Step:     v1alpha1.ConditionUplinkReady,
		},
		RolledBack: &RolledBack{Generation: 2, Retry: "1", Probe: "gateway 10.11.0.1 (arp)", Why: "no ARP reply", Step: v1alpha1.ConditionUplinkReady,
			Time: time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC)},
	}
}

func TestStateRoundTrip(t *testing.T) {
	noPrev := mid()
	noPrev.Applied, noPrev.RolledBack = nil, nil
	noPrev.Pending.Previous = desired.Input{}
	noPrev.Pending.Probes = nil
	deleted := State{Uplinks: map[string]plan.Carried{}, Applied: &desired.Input{Deleted: true, Generation: 9}}
	for name, want := range map[string]State{
		"inside the probe window":             mid(),
		"first change, no probe passed":       noPrev,
		"torn down":                           deleted,
		"only uplinks, as Version 1 recorded": {Uplinks: map[string]plan.Carried{"eth0": mgmt()}},
	} {
		t.Run(name, func(t *testing.T) {
			path := Path(t.TempDir())
			if err := WriteState(path, want); err != nil {
				t.Fatal(err)
			}
			got, old, err := ReadState(path)
			if err != nil || old {
				t.Fatalf("ReadState() old=%v err=%v", old, err)
			}
			if want.Pending != nil && want.Pending.Probes == nil {
				want.Pending.Probes = nil // none is none, on disk as []
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ReadState() =\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

// Version 2 is a contract too: testdata/uplinks-v2.json is what it writes,
// byte for byte.
func TestVersion2IsStable(t *testing.T) {
	got, err := encode(mid())
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/uplinks-v2.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/uplinks-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("Version 2 now writes\n%s\ntestdata/uplinks-v2.json holds\n%s", got, want)
	}
}

func TestCorruptVersion2(t *testing.T) {
	good, err := encode(mid())
	if err != nil {
		t.Fatal(err)
	}
	// resigned changes the decoded file and signs it again: what a buggy
	// writer would leave, caught by the values' own checks.
	resigned := func(change func(*FileV2)) []byte {
		var f FileV2
		if err := json.Unmarshal(good, &f); err != nil {
			t.Fatal(err)
		}
		change(&f)
		f.Checksum = checksumV2(f)
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	replace := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("the good file has no %q", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"the pending change's NIC edited", replace(`"nic": "eth0"`, `"nic": "eth2"`), "checksum mismatch"},
		{"the deadline edited", replace(`2026-11-30T12:00:10`, `2026-11-30T12:00:11`), "checksum mismatch"},
		{"a field no version has", replace(`"applied": {`, `"mtu": 9000, "applied": {`), `does not match the version 2 format: json: unknown field "mtu"`},
		{"truncated", good[:len(good)*2/3], "it is truncated"},
		{"a spec field no agent knows", resigned(func(f *FileV2) { f.Applied.Spec = json.RawMessage(`{"network":{"type":"L2VlanNetwork"},"mtu":9000}`) }), `applied input: spec: json: unknown field "mtu"`},
		{"an input without a spec", resigned(func(f *FileV2) { f.Pending.Next.Spec = nil }), "pending change: next input: an input without a spec"},
		{"a deadline that is no time", resigned(func(f *FileV2) { f.Pending.Deadline = "soon" }), "pending change: deadline"},
		{"an unknown probe", resigned(func(f *FileV2) { f.Pending.Probes[0].Kind = "dns" }), `pending change: unknown probe kind "dns"`},
		{"a rollback without a time", resigned(func(f *FileV2) { f.RolledBack.Time = "" }), "rollback: time"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := Path(t.TempDir())
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			got, old, err := ReadState(path)
			var ce *CorruptError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("ReadState() = %+v, old %v, err %v; want a *CorruptError with %q", got, old, err, c.want)
			}
			if !reflect.DeepEqual(got, State{}) || old {
				t.Errorf("ReadState() returned %+v (old %v) with the error", got, old)
			}
		})
	}
}
