package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// vmHost is e2e/vm/vmhost running: kube-apiserver, etcd and
// harvnet-controller on this machine, for the VM's agents.
//
// As root it runs as PID 1 of its own PID namespace (and a mount namespace
// for that namespace's /proc): whatever it started, the controller and the
// control plane included, the kernel kills when it exits, however it
// exits. It also stops when vmrun dies (Pdeathsig) or closes its stdin.
type vmHost struct {
	*child
	root, dir string
	stdin     *os.File
	pidns     bool

	once      sync.Once
	diedEarly bool
}

func startHost(root, dir, bin string) (*vmHost, error) {
	log, err := os.Create(filepath.Join(dir, "vmhost.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	cmd := exec.Command(filepath.Join(bin, "vmhost"), "-root", root, "-dir", dir, "-bin", bin,
		"-ready", filepath.Join(dir, "ready"), "-stdin")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pr, log, log
	h := &vmHost{root: root, dir: dir, stdin: pw, pidns: os.Geteuid() == 0}
	if h.pidns {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS}
	}
	if h.child, err = start("vmhost", cmd, syscall.SIGTERM); err != nil {
		pw.Close()
		return nil, fmt.Errorf("starting vmhost: %w", err)
	}
	return h, nil
}

// port waits until vmhost is ready and returns the API server's port.
func (h *vmHost) port(within time.Duration) (int, error) {
	ready := filepath.Join(h.dir, "ready")
	deadline := time.After(within)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if b, err := os.ReadFile(ready); err == nil {
			p, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(b), "port=")))
			if err != nil {
				return 0, fmt.Errorf("%s: %q is no port", ready, b)
			}
			return p, nil
		}
		select {
		case <-h.done:
			return 0, fmt.Errorf("vmhost exited: %v", h.err)
		case <-deadline:
			return 0, fmt.Errorf("vmhost not ready within %v", within)
		case <-tick.C:
		}
	}
}

// stop stops vmhost, which stops the controller and the control plane,
// and reports whether it had died or failed on its own before. It may be
// called more than once, also at the same time.
func (h *vmHost) stop() bool {
	if h == nil {
		return false
	}
	h.once.Do(func() { h.diedEarly = h.stopOnce() })
	return h.diedEarly
}

func (h *vmHost) stopOnce() (diedEarly bool) {
	diedEarly = h.exited()
	// Its cleanup stops the controller (10 s at most) and the control
	// plane (20 s a process at most) in turn.
	h.child.stop(syscall.SIGTERM, time.Minute)
	h.stdin.Close()
	if !diedEarly && h.exitCode() != 0 {
		diedEarly = true
	}
	if !h.pidns {
		// Without its own PID namespace (not root), a vmhost that died
		// without its cleanup leaves the control plane: stop it by the
		// pid files controlplane-up.sh wrote.
		_ = exec.Command(filepath.Join(h.root, "scripts", "controlplane-down.sh"), h.dir).Run()
	}
	return diedEarly
}
