// Command vmrun is the host side of the VM tier (see e2e/vm/README.md):
// scripts/vm-test.sh and scripts/vm-demo.sh install the packages and cache
// the Debian kernel, then exec it.
//
//	vmrun test -root R -kernel DIR -out DIR [-v] [-run REGEX] [-tier a|b|ab]
//	vmrun demo -root R -kernel DIR -out DIR [-nodes N]
//
// It builds what goes into the VM, starts tier B's host side
// (e2e/vm/vmhost) and qemu as its own children, and stops exactly those.
// test reads the results the guest writes on its second serial port and
// prints "N passed, M failed" last; demo keeps the demo up until Ctrl-C.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "test" && os.Args[1] != "demo") {
		fmt.Fprintln(os.Stderr, "usage: vmrun test|demo -root R -kernel DIR -out DIR [flags]")
		os.Exit(2)
	}
	// The shell's lock on the kernel cache (fd 9) is held by this process
	// only: a child that inherited it would hold it past the run.
	syscall.CloseOnExec(9)
	if os.Args[1] == "test" {
		os.Exit(runTest(os.Args[2:]))
	}
	os.Exit(runDemo(os.Args[2:]))
}

// common is what both modes share.
type common struct {
	root, vmdir string // the repository, e2e/vm
	out         string // binaries, image, logs
	kdir, kver  string // the cached kernel (scripts/vm-lib.sh)
	t0          time.Time
	say         func(format string, args ...any)
	// ctx ends with the first SIGINT or SIGTERM, which sig then holds.
	ctx context.Context
	sig atomic.Value
}

func newCommon(root, kdir, out, prefix string) (*common, error) {
	c := &common{root: root, kdir: kdir, out: out, t0: time.Now()}
	if s, err := strconv.ParseInt(os.Getenv("HARVNET_VM_T0"), 10, 64); err == nil {
		c.t0 = time.Unix(s, 0) // the timings go on from the shell's
	}
	c.say = func(format string, args ...any) { fmt.Fprintf(os.Stderr, prefix+format+"\n", args...) }
	if root == "" || kdir == "" || out == "" {
		return nil, fmt.Errorf("-root, -kernel and -out are required")
	}
	c.vmdir = filepath.Join(c.root, "e2e", "vm")
	mods, err := os.ReadDir(filepath.Join(kdir, "lib", "modules"))
	if err != nil || len(mods) != 1 {
		return nil, fmt.Errorf("%s/lib/modules should hold exactly one kernel version (%v)", kdir, err)
	}
	c.kver = mods[0].Name()
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	c.ctx = ctx
	go func() {
		c.sig.Store(<-sigs)
		cancel()
	}()
	return c, nil
}

// phase says what starts now and how long the run has taken so far.
func (c *common) phase(what string) {
	c.say("%s (%ds)", what, int(time.Since(c.t0).Seconds()))
}

// rel is path relative to the repository, for messages.
func (c *common) rel(path string) string {
	if r, err := filepath.Rel(c.root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// interrupted returns the exit status for the signal that ended the run,
// or 0 when there was none.
func (c *common) interrupted() int {
	if c.ctx.Err() == nil {
		return 0
	}
	if c.sig.Load() == syscall.SIGTERM {
		c.say("terminated")
		return 143
	}
	c.say("interrupted")
	return 130
}

// command runs a program in the repository with the output on stderr.
func (c *common) command(env []string, name string, args ...string) error {
	cmd := exec.CommandContext(c.ctx, name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = c.root, os.Stderr, os.Stderr
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}

// output runs a program in the repository and returns its stdout.
func (c *common) output(name string, args ...string) (string, error) {
	cmd := exec.CommandContext(c.ctx, name, args...)
	cmd.Dir, cmd.Stderr = c.root, os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return string(out), nil
}

// installTools runs scripts/install-tools.sh (kube-apiserver, kubectl, etcd).
func (c *common) installTools() error {
	return c.command(nil, filepath.Join(c.root, "scripts", "install-tools.sh"))
}

// buildHost builds the host's programs, with the toolchain's default
// CGO_ENABLED as the host tiers build them (go test ./...,
// framework.Build): after those only the link is left, where a static
// build would compile client-go and its world again. The agent's libc goes
// into the VM like iproute2's.
func (c *common) buildHost(pkgs ...string) error {
	return c.command(nil, "go", append([]string{"build", "-ldflags=-s -w", "-o", filepath.Join(c.out, "bin") + "/"}, pkgs...)...)
}

// freshHostDir readies the directory of vmhost's state and logs: a control
// plane left there by a killed run would be mistaken for this one's.
func (c *common) freshHostDir(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		_ = exec.Command(filepath.Join(c.root, "scripts", "controlplane-down.sh"), dir).Run()
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return os.MkdirAll(dir, 0o755)
}

// envOr is the environment variable's value, or def when it is unset.
func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// vm is qemu's configuration from the environment.
func (c *common) vm(initrd string, apiPort int, serial2 ...string) vmConfig {
	return vmConfig{
		kernel: filepath.Join(c.kdir, "vmlinuz"), initrd: initrd,
		mem: envOr("HARVNET_VM_MEM", "1024"), smp: envOr("HARVNET_VM_SMP", "2"),
		accel:   envOr("HARVNET_VM_ACCEL", "tcg,thread=multi"),
		apiPort: apiPort, serial2: serial2,
	}
}
