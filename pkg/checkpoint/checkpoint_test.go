package checkpoint

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

// mgmt is what harvnet carries for a management NIC: what the agent before
// Version 1 recorded in testdata/uplinks-unversioned.json (less the NIC's
// interface index, which is not kept).
func mgmt() plan.Carried {
	return plan.Carried{
		Addrs: hoststate.Addrs{
			{Prefix: netip.MustParsePrefix("10.11.0.5/24")},
			{Prefix: netip.MustParsePrefix("fd00:11::5/64")},
		},
		Routes: []hoststate.Route{
			{Dst: netip.MustParsePrefix("192.168.77.0/24"), Protocol: 4, Scope: 253, Table: 254, Family: 2},
			{Gw: netip.MustParseAddr("10.11.0.1"), Protocol: 4, Table: 254, Family: 2},
			{Gw: netip.MustParseAddr("fd00:11::1"), Protocol: 4, Table: 254, Priority: 1024, Family: 10},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	withSrc := mgmt()
	withSrc.Routes = append(withSrc.Routes, hoststate.Route{
		Dst: netip.MustParsePrefix("10.99.0.0/16"), Gw: netip.MustParseAddr("10.11.0.254"), Src: netip.MustParseAddr("10.11.0.5"),
		Protocol: 16, Table: 100, Priority: 50, Family: 2,
	})
	withSrc.Addrs = append(withSrc.Addrs, hoststate.Addr{Prefix: netip.MustParsePrefix("fd00:11::9/128"), Scope: 253})
	cases := map[string]map[string]plan.Carried{
		"nothing recorded":          {},
		"a NIC that carried none":   {"eth1": {}},
		"the management NIC":        {"eth0": mgmt()},
		"mid switch, source routes": {"eth0": withSrc, "eth1": {}},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			path := Path(t.TempDir())
			if err := WriteState(path, State{Uplinks: want}); err != nil {
				t.Fatal(err)
			}
			got, old, err := Read(path)
			if err != nil || old {
				t.Fatalf("Read() old=%v err=%v", old, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Read() =\n %+v\nwant\n %+v", got, want)
			}
		})
	}
}

func TestNoFileIsAnEmptyRecord(t *testing.T) {
	got, old, err := Read(Path(t.TempDir()))
	if err != nil || old || got == nil || len(got) != 0 {
		t.Errorf("Read() of no file = %v, old %v, err %v; want an empty record", got, old, err)
	}
}

func TestUnversionedFileIsReadAndUpgraded(t *testing.T) {
	b, err := os.ReadFile("testdata/uplinks-unversioned.json")
	if err != nil {
		t.Fatal(err)
	}
	path := Path(t.TempDir())
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, old, err := Read(path)
	if err != nil || !old {
		t.Fatalf("Read() old=%v err=%v, want an old file read", old, err)
	}
	want := map[string]plan.Carried{"eth0": mgmt()}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Read() =\n %+v\nwant\n %+v", got, want)
	}
	if err := WriteState(path, State{Uplinks: got}); err != nil {
		t.Fatal(err)
	}
	again, old, err := Read(path)
	if err != nil || old || !reflect.DeepEqual(again, want) {
		t.Errorf("after the upgrade: Read() = %+v, old %v, err %v", again, old, err)
	}
	if b, _ := os.ReadFile(path); !bytes.Contains(b, []byte(`"version": 2`)) {
		t.Errorf("upgraded file has no version 2:\n%s", b)
	}

	// A NIC recorded before it carried anything, as that agent wrote it.
	if err := os.WriteFile(path, []byte(`{"uplinks":{"eth1":{}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, old, err := Read(path); err != nil || !old || !reflect.DeepEqual(got, map[string]plan.Carried{"eth1": {}}) {
		t.Errorf("Read() = %+v, old %v, err %v; want eth1 carrying nothing", got, old, err)
	}
}

// An agent from before Version 1, downgraded to, decodes this format as
// its own (encoding/json matches field names regardless of case), so a
// downgrade keeps the record instead of dropping it.
func TestAnUnversionedAgentReadsVersion1(t *testing.T) {
	want := map[string]plan.Carried{"eth0": mgmt(), "eth1": {}}
	b, err := encode(State{Uplinks: want})
	if err != nil {
		t.Fatal(err)
	}
	var f unversioned
	if err := json.Unmarshal(b, &f); err != nil { // not strict, as that agent read it
		t.Fatal(err)
	}
	got, err := toCarried(f.upgrade())
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("as read by an unversioned agent: %+v, %v; want %+v", got, err, want)
	}
}

func TestCorruptFiles(t *testing.T) {
	good, err := encode(State{Uplinks: map[string]plan.Carried{"eth0": mgmt()}})
	if err != nil {
		t.Fatal(err)
	}
	// signed is a file with a valid checksum over what it holds: what a
	// buggy writer would leave, caught by the values' own checks.
	signed := func(u map[string]Uplink) []byte {
		f := FileV2{Version: Version, Uplinks: u}
		f.Checksum = checksumV2(f)
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	replace := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("the good file has no %q:\n%s", old, good)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	garbled := bytes.Clone(good)
	copy(garbled[len(garbled)/3:], "\x00\xff\xfe{{")

	cases := []struct {
		name string
		data []byte
		want string // in the error, after the path
	}{
		{"empty", nil, "it is empty"},
		{"only whitespace", []byte("\n  \n"), "it is empty"},
		{"truncated", good[:len(good)/2], "it is truncated"},
		{"truncated after one byte", good[:1], "it is truncated"},
		{"garbled bytes", garbled, "it is garbled: invalid JSON at byte"},
		{"trailing garbage", append(bytes.Clone(good), "}x"...), "it is garbled"},
		{"null", []byte("null"), "it holds null"},
		{"an array", []byte("[1,2]"), "it is not a JSON object"},
		{"checksum mismatch", replace("10.11.0.5/24", "10.11.0.6/24"), "checksum mismatch: it records sha256:"},
		{"no checksum", without(good, `"checksum"`), "it has no checksum"},
		{"future version", replace(`"version": 2`, `"version": 3`), "it has version 3, written by a newer agent: this one reads up to version 2"},
		{"version zero", replace(`"version": 2`, `"version": 0`), "it has version 0, which no agent writes"},
		{"version not a number", replace(`"version": 2`, `"version": "2"`), `its version "2" is not a whole number`},
		{"unknown field", replace(`"prefix"`, `"mtu": 1500, "prefix"`), `does not match the version 2 format: json: unknown field "mtu"`},
		{"unknown field, unversioned", []byte(`{"uplinks":{"eth0":{"Addrs":[],"bridge":"br0"}}}`), `does not match the unversioned format either: json: unknown field "bridge"`},
		{"neither version nor uplinks", []byte(`{"enslaved":["eth0"]}`), "it has neither a version nor uplinks"},
		{"valid checksum, bad prefix", signed(map[string]Uplink{"eth0": {Addrs: []Addr{{Prefix: "10.11.0.5"}}}}), `uplink "eth0": address: netip.ParsePrefix("10.11.0.5"): no '/'`},
		{"valid checksum, bad family", signed(map[string]Uplink{"eth0": {Routes: []Route{{Family: 7, Gw: "10.11.0.1"}}}}), `uplink "eth0": route: family 7 is neither 2 (IPv4) nor 10 (IPv6)`},
		{"valid checksum, mixed family", signed(map[string]Uplink{"eth0": {Routes: []Route{{Family: 10, Gw: "10.11.0.1"}}}}), `10.11.0.1 is not of family 10`},
		{"valid checksum, unnamed NIC", signed(map[string]Uplink{"": {}}), "an uplink without a name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := Path(t.TempDir())
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			got, old, err := Read(path)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Read() = %v, old %v, err %v; want a *CorruptError", got, old, err)
			}
			if got != nil || old {
				t.Errorf("Read() returned a record %v (old %v) with the error", got, old)
			}
			if ce.Path != path {
				t.Errorf("error path %q, want %q", ce.Path, path)
			}
			prefix := "state file " + path + " is corrupt: "
			if msg := err.Error(); !strings.HasPrefix(msg, prefix) || !strings.Contains(msg, c.want) {
				t.Errorf("error %q, want %q followed by %q", msg, prefix, c.want)
			}
			t.Log(err)
			if r := ce.Remedy(); !strings.Contains(r, "mv "+path+" "+path+".corrupt") {
				t.Errorf("remedy %q does not say how to move the file aside", r)
			}
		})
	}
}

// without is b less its lines that contain s.
func without(b []byte, s string) []byte {
	var out []byte
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if !strings.Contains(l, s) {
			out = append(out, l...)
		}
	}
	return out
}

func TestUnreadableFileIsCorrupt(t *testing.T) {
	path := Path(t.TempDir())
	if err := os.Mkdir(path, 0o700); err != nil { // a directory where the file should be
		t.Fatal(err)
	}
	_, _, err := Read(path)
	var ce *CorruptError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "it cannot be read") {
		t.Errorf("Read() of a directory: %v, want a *CorruptError saying it cannot be read", err)
	}
}

func TestWriteIsAtomicAndPrivate(t *testing.T) {
	dir := t.TempDir()
	path := Path(dir)
	for _, rec := range []map[string]plan.Carried{{"eth1": {}}, {"eth0": mgmt()}} { // create, then replace
		if err := WriteState(path, State{Uplinks: rec}); err != nil {
			t.Fatal(err)
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		if !reflect.DeepEqual(names, []string{FileName}) {
			t.Errorf("state dir holds %v after Write, want only %s", names, FileName)
		}
		if got, _, err := Read(path); err != nil || !reflect.DeepEqual(got, rec) {
			t.Errorf("Read() after Write = %+v, %v; want %+v", got, err, rec)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("state file mode %v, want 0600", perm)
	}
	// A directory that cannot take the file: the error says so, and the
	// old file is untouched.
	if err := WriteState(filepath.Join(dir, "missing", FileName), State{Uplinks: map[string]plan.Carried{}}); err == nil {
		t.Error("Write() into a missing directory succeeded")
	}
	if err := WriteState(path, State{Uplinks: map[string]plan.Carried{"eth0": {Addrs: hoststate.Addrs{{}}}}}); err == nil {
		t.Error("Write() of an address without a prefix succeeded")
	}
	if got, _, err := Read(path); err != nil || !reflect.DeepEqual(got, map[string]plan.Carried{"eth0": mgmt()}) {
		t.Errorf("a refused Write changed the file: %+v, %v", got, err)
	}
}

// Version 1 is what agents before the rollback wrote:
// testdata/uplinks-v1.json, byte for byte. It is read exactly, reported as
// old (so the agent rewrites it as Version 2), and corrupt Version 1
// files are still caught.
func TestVersion1IsReadAndUpgraded(t *testing.T) {
	v1, err := os.ReadFile("testdata/uplinks-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	path := Path(t.TempDir())
	if err := os.WriteFile(path, v1, 0o600); err != nil {
		t.Fatal(err)
	}
	rec, old, err := Read(path)
	if err != nil || !old || !reflect.DeepEqual(rec, map[string]plan.Carried{"eth0": mgmt()}) {
		t.Fatalf("Read(testdata/uplinks-v1.json) = %+v, old %v, err %v", rec, old, err)
	}
	tampered := bytes.Replace(v1, []byte("10.11.0.5/24"), []byte("10.11.0.6/24"), 1)
	if err := os.WriteFile(path, tampered, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(path); err == nil || !strings.Contains(err.Error(), "checksum mismatch") {
		t.Errorf("a tampered version 1 file: %v, want a checksum mismatch", err)
	}
	if err := os.WriteFile(path, bytes.Replace(v1, []byte(`"prefix"`), []byte(`"mtu": 1, "prefix"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Read(path); err == nil || !strings.Contains(err.Error(), "does not match the version 1 format") {
		t.Errorf("a version 1 file with an unknown field: %v", err)
	}
}
