// Command vmhost is the host half of the VM tier's control-plane e2e (tier B,
// see e2e/vm/README.md): it starts kube-apiserver and etcd on 127.0.0.1,
// installs the CRDs and manifests, starts harvnet-controller, and writes the
// kubeconfigs the VM needs:
//
//	<dir>/guest/admin.kubeconfig  admin, server https://10.0.2.100:6443 (the test in the VM)
//	<dir>/guest/agent.kubeconfig  the agent's ServiceAccount, server https://127.0.0.1:6443
//	                              (the agents, through the relay in their node namespace)
//
// Then it writes "port=<API server port>" to -ready and waits. It stops the
// controller and the control plane when it gets SIGTERM or SIGINT, when its
// stdin is closed (-stdin), or when its parent process dies (vmrun was
// killed), so nothing outlives the run. On a setup failure it cleans up,
// says why on stderr and exits 1 without writing -ready.
//
// vmrun starts it, as root, as PID 1 of a new PID and mount namespace: then
// everything it starts dies with it, even should it be SIGKILLed, and it
// mounts that namespace's own /proc, which controlplane-up.sh and
// controlplane-down.sh read for the pids they started.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/e2e/framework"
)

func main() {
	root := flag.String("root", ".", "the repository (scripts/, manifests/, bin/kubectl, bin/kube-apiserver)")
	dir := flag.String("dir", "", "state and logs of the control plane and the controller")
	bin := flag.String("bin", "", "directory with harvnet-controller")
	ready := flag.String("ready", "", "file written once everything is up")
	watchStdin := flag.Bool("stdin", false, "also stop when stdin is closed")
	flag.Parse()
	if *dir == "" || *bin == "" || *ready == "" {
		fmt.Fprintln(os.Stderr, "usage: vmhost -root R -dir D -bin B -ready FILE")
		os.Exit(2)
	}
	if os.Getpid() == 1 {
		if err := mountProc(); err != nil {
			fmt.Fprintln(os.Stderr, "vm-host: PID 1 of a new PID namespace, but:", err)
			os.Exit(1)
		}
	}
	os.Exit(run(*root, *dir, *bin, *ready, *watchStdin))
}

// mountProc mounts a /proc of this PID namespace, in this mount namespace
// only (made private first, so the host's /proc stays as it is).
func mountProc() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private (is this a new mount namespace?): %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	return nil
}

func run(root, dir, bin, ready string, watchStdin bool) int {
	// Registered before anything is started, so a signal during setup
	// still ends in the cleanup below.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	parent := os.Getppid()

	t0 := time.Now()
	cluster, err := framework.StartVMHost(root, dir, bin)
	defer func() {
		start := time.Now()
		cluster.Close()
		if cluster.CP == nil {
			// StartControlPlane returns no ControlPlane when
			// controlplane-up.sh fails half-way: etcd may be running.
			_ = exec.Command(filepath.Join(root, "scripts", "controlplane-down.sh"), dir).Run()
		}
		fmt.Fprintf(os.Stderr, "vm-host: controller and control plane stopped (%v)\n", time.Since(start).Round(100*time.Millisecond))
	}()
	if err == nil {
		err = writeKubeconfigs(cluster.CP, dir)
	}
	if err == nil {
		err = os.WriteFile(ready+".tmp", fmt.Appendf(nil, "port=%d\n", cluster.CP.Port), 0o644)
	}
	if err == nil {
		err = os.Rename(ready+".tmp", ready)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vm-host: setting up:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "vm-host: API server on 127.0.0.1:%d, controller running (%v)\n",
		cluster.CP.Port, time.Since(t0).Round(100*time.Millisecond))

	eof := make(chan struct{})
	if watchStdin {
		go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(eof) }()
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case s := <-stop:
			fmt.Fprintln(os.Stderr, "vm-host: got", s)
			return 0
		case <-eof:
			fmt.Fprintln(os.Stderr, "vm-host: stdin closed")
			return 0
		case <-tick.C:
			if os.Getppid() != parent {
				fmt.Fprintln(os.Stderr, "vm-host: parent process gone")
				return 1
			}
		}
	}
}

func writeKubeconfigs(cp *framework.ControlPlane, dir string) error {
	g := filepath.Join(dir, "guest")
	if err := cp.WriteKubeconfigAt("admin", framework.GuestAPIServer, filepath.Join(g, "admin.kubeconfig")); err != nil {
		return err
	}
	return cp.WriteKubeconfigAt(framework.AgentUser, framework.NodeAPIServer, filepath.Join(g, "agent.kubeconfig"))
}
