package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// image is what goes into the VM besides busybox, /init and the programs
// of e2e/vm/files.
type image struct {
	vmdir      string // e2e/vm
	kdir, kver string // the cached kernel: vmlinuz, lib/modules, modules
	lists      []string
	tests      [][2]string // host path, name under /tests (with their libraries)
	hooks      [][2]string // host path, name under /etc/harvnet-vm/hooks
	bins       [][2]string // host path, path in the VM (with their libraries)
	files      [][2]string // host path, path in the VM
	main       string      // /etc/harvnet-vm/main, run by /init instead of vmguest
	config     string      // /etc/harvnet-vm/config, sourced by /init
	plan       []byte      // /etc/harvnet-vm/plan.json, for vmguest
	dirs       []string    // directories to make: the tests' working directories
	// testdata: the module whose testdata directories go under /src
	// (a test's working directory is its package's there).
	testdata string
}

// busybox applets that must not shadow the real programs the tests need
// (busybox's ip ignores vlan_filtering).
var noApplet = map[string]bool{"busybox": true, "ip": true, "ipaddr": true, "iplink": true, "ipneigh": true,
	"iproute": true, "iprule": true, "iptunnel": true, "bridge": true, "ping": true, "ping6": true, "sysctl": true}

// build assembles the image and writes it to path.
func (im image) build(path string) error {
	a := newArchive()
	for _, d := range []string{"/bin", "/sbin", "/usr/bin", "/usr/sbin", "/lib", "/lib64", "/etc/harvnet-vm/hooks",
		"/proc", "/sys", "/dev", "/run", "/root", "/var", "/tests"} {
		a.dir(d, 0o755)
	}
	a.dir("/tmp", 0o1777)
	a.symlink("/var/run", "../run")
	if err := a.file("/bin/busybox", "/bin/busybox"); err != nil {
		return err
	}
	applets, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	for _, ap := range strings.Fields(string(applets)) {
		if !noApplet[ap] {
			a.symlink("/bin/"+ap, "busybox")
		}
	}
	a.symlink("/sbin/modprobe", "../bin/busybox")
	if err := a.program("/init", filepath.Join(im.vmdir, "init")); err != nil {
		return err
	}
	a.bytes("/etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	a.bytes("/etc/group", []byte("root:x:0:\n"), 0o644)

	c := &copier{a: a, done: map[string]bool{}}
	for _, list := range append([]string{filepath.Join(im.vmdir, "files")}, im.lists...) {
		if err := c.list(list); err != nil {
			return err
		}
	}
	// The modules and their modules.dep (made when the kernel was cached),
	// so the kernel's own module requests (busybox modprobe) find them.
	mods := filepath.Join(im.kdir, "lib", "modules")
	err = filepath.WalkDir(mods, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return a.file("/lib/modules/"+strings.TrimPrefix(p, mods+"/"), p)
	})
	if err != nil {
		return err
	}
	if err := a.file("/etc/harvnet-vm/modules", filepath.Join(im.kdir, "modules")); err != nil {
		return err
	}
	for _, t := range im.tests {
		if err := c.withLibs("/tests/"+t[1], t[0]); err != nil {
			return err
		}
	}
	for _, h := range im.hooks {
		if err := a.program("/etc/harvnet-vm/hooks/"+h[1], h[0]); err != nil {
			return err
		}
	}
	for _, b := range im.bins {
		if err := c.withLibs(b[1], b[0]); err != nil {
			return err
		}
	}
	for _, f := range im.files {
		if err := a.file(f[1], f[0]); err != nil {
			return err
		}
	}
	if im.main != "" {
		if err := a.program("/etc/harvnet-vm/main", im.main); err != nil {
			return err
		}
	}
	for _, d := range im.dirs {
		a.dir(d, 0o755)
	}
	if im.testdata != "" {
		if err := addTestdata(a, im.testdata); err != nil {
			return err
		}
	}
	a.bytes("/etc/harvnet-vm/config", []byte(im.config+"\n"), 0o644)
	if im.plan != nil {
		a.bytes("/etc/harvnet-vm/plan.json", im.plan, 0o644)
	}

	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = a.write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// addTestdata adds every testdata directory of the module at root under
// /src, skipping what the go command skips (directories named ".*" or
// "_*") and other modules (directories with their own go.mod).
func addTestdata(a *archive, root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || p == root {
			return err
		}
		name := d.Name()
		if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			return filepath.SkipDir
		}
		if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
			return filepath.SkipDir
		}
		if name != "testdata" {
			return nil
		}
		err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			return a.file("/src/"+strings.TrimPrefix(f, root+"/"), f)
		})
		if err != nil {
			return err
		}
		return filepath.SkipDir
	})
}

// copier copies host files to the same paths in the image, each with the
// shared libraries ldd finds for it, each once.
type copier struct {
	a    *archive
	done map[string]bool
}

// list copies what a file list in e2e/vm/files format names.
func (c *copier) list(list string) error {
	b, err := os.ReadFile(list)
	if err != nil {
		return err
	}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		optional := strings.HasPrefix(line, "?")
		f := strings.Fields(strings.TrimPrefix(line, "?"))
		if len(f) == 3 && f[1] == "->" {
			c.a.symlink(f[0], f[2])
			continue
		}
		if len(f) != 1 || !strings.HasPrefix(f[0], "/") {
			return fmt.Errorf("%s:%d: want <absolute path> or <link> -> <target>, not %q", list, i+1, line)
		}
		st, err := os.Stat(f[0])
		switch {
		case err != nil && optional:
			continue
		case err != nil:
			return fmt.Errorf("%s (from %s) does not exist on this host", f[0], list)
		case st.IsDir():
			err = filepath.WalkDir(f[0], func(p string, d fs.DirEntry, err error) error {
				if err != nil || !d.Type().IsRegular() {
					return err
				}
				return c.withLibs(p, p)
			})
		default:
			err = c.withLibs(f[0], f[0])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// withLibs adds src at p, and src's shared libraries at their host paths.
func (c *copier) withLibs(p, src string) error {
	if err := c.a.file(p, src); err != nil {
		return err
	}
	// ldd fails on a static binary or a file that is not ELF: no libraries.
	out, _ := exec.Command("ldd", src).Output()
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		lib := ""
		switch {
		case len(f) >= 3 && f[1] == "=>" && strings.HasPrefix(f[2], "/"):
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0]
		}
		if lib == "" || c.done[lib] {
			continue
		}
		c.done[lib] = true
		if err := c.a.file(lib, lib); err != nil {
			return err
		}
	}
	return nil
}

// size is the image's size in MiB, for the log.
func sizeMiB(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size() >> 20
}
