package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The archive is what the kernel unpacks as the VM's root: GNU cpio, which
// reads the same "newc" format, must find every entry with its type,
// permissions and contents, and parents before children.
func TestArchiveUnpacks(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio is not installed (scripts/vm-test.sh installs it)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, []byte("odd length!"), 0o640); err != nil {
		t.Fatal(err)
	}
	a := newArchive()
	a.dir("/tmp", 0o1777)
	a.symlink("/var/run", "../run")
	if err := a.file("/usr/lib/deep/src", src); err != nil {
		t.Fatal(err)
	}
	if err := a.program("/init", src); err != nil {
		t.Fatal(err)
	}
	a.bytes("/etc/harvnet-vm/config", []byte("x=1\n"), 0o644)
	if err := a.file("/missing", filepath.Join(dir, "nope")); err == nil {
		t.Error("adding a missing host file did not fail")
	}
	var buf bytes.Buffer
	if err := a.write(&buf); err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive of %d bytes is not 4-byte aligned", buf.Len())
	}
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(cpio, "-idm", "--quiet", "--no-absolute-filenames")
	cmd.Dir, cmd.Stdin = root, &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v: %s", err, out)
	}
	for _, f := range []struct {
		path string
		perm os.FileMode
		body string
	}{
		{"usr/lib/deep/src", 0o640, "odd length!"},
		{"init", 0o755, "odd length!"},
		{"etc/harvnet-vm/config", 0o644, "x=1\n"},
	} {
		st, err := os.Stat(filepath.Join(root, f.path))
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		b, _ := os.ReadFile(filepath.Join(root, f.path))
		if st.Mode().Perm() != f.perm || string(b) != f.body {
			t.Errorf("%s: mode %v, contents %q; want %v, %q", f.path, st.Mode().Perm(), b, f.perm, f.body)
		}
	}
	if st, err := os.Stat(filepath.Join(root, "tmp")); err != nil || !st.IsDir() || st.Mode()&os.ModeSticky == 0 {
		t.Errorf("/tmp: %v %v, want a sticky directory", st, err)
	}
	if target, err := os.Readlink(filepath.Join(root, "var/run")); err != nil || target != "../run" {
		t.Errorf("/var/run -> %q (%v), want ../run", target, err)
	}
}
