package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Every testdata directory of the module goes to /src, as go test would
// find it from the package's directory; hidden and underscore directories
// and other modules (their own go.mod) stay out.
func TestAddTestdata(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{
		"pkg/a/testdata/in.json", "pkg/a/testdata/deep/x", "pkg/b/b.go",
		"_output/vm/testdata/no", ".git/testdata/no", "tools/kube/go.mod", "tools/kube/testdata/no",
	} {
		p := filepath.Join(root, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := newArchive()
	if err := addTestdata(a, root); err != nil {
		t.Fatal(err)
	}
	var files []string
	for p, e := range a.entries {
		if e.mode&modeType == modeFile {
			files = append(files, p)
		}
	}
	slices.Sort(files)
	want := []string{"/src/pkg/a/testdata/deep/x", "/src/pkg/a/testdata/in.json"}
	if !slices.Equal(files, want) {
		t.Errorf("files %v, want %v", files, want)
	}
}

// Tier A alone has no NIC; with an API server port the guest gets one, on
// a user-mode network that reaches nothing but that port.
func TestQemuNetwork(t *testing.T) {
	c := vmConfig{kernel: "k", initrd: "i", mem: "1024", smp: "2", accel: "tcg"}
	if a := strings.Join(c.args(), " "); !strings.Contains(a, "-nic none") || strings.Contains(a, "netdev") || !strings.Contains(a, "-device e1000e,romfile=,mac=") {
		t.Errorf("without a port (no network, one spare NIC wired to nothing): %s", a)
	}
	c.apiPort, c.serial2 = 41234, []string{"-serial", "file:/r"}
	a := strings.Join(c.args(), " ")
	for _, w := range []string{"restrict=on", "guestfwd=tcp:10.0.2.100:6443-cmd:/bin/busybox nc 127.0.0.1 41234", "-serial stdio -serial file:/r"} {
		if !strings.Contains(a, w) {
			t.Errorf("with a port, the command line lacks %q: %s", w, a)
		}
	}
	if strings.Contains(a, "-nic none") {
		t.Errorf("with a port: %s", a)
	}
}
