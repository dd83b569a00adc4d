package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// runDemo is scripts/vm-demo.sh: the control plane and the controller on
// this machine (vmhost), the demo nodes and their agents in the VM
// (e2e/vm/demo-main, vmdemo guest), a root shell in the VM on a telnet
// port; it waits until every node is Ready (vmdemo host), says how to poke
// at it, and stays up until Ctrl-C or the VM stops.
func runDemo(args []string) int {
	fs := flag.NewFlagSet("vmrun demo", flag.ExitOnError)
	root := fs.String("root", "", "the repository")
	kdir := fs.String("kernel", "", "the cached kernel: vmlinuz, lib/modules, modules")
	out := fs.String("out", "", "binaries, image, console and the control plane's state")
	nodes := fs.Int("nodes", 3, "how many demo nodes (1 to 9)")
	_ = fs.Parse(args)
	c, err := newCommon(*root, *kdir, *out, "==> ")
	if err == nil && (*nodes < 1 || *nodes > 9) {
		err = fmt.Errorf("-nodes must be 1 to 9")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vm-demo:", err)
		return 2
	}
	d := &demo{common: c, nodes: *nodes, hdir: filepath.Join(*out, "cp")}
	err = d.run()
	if d.q != nil || d.host != nil {
		c.say("cleaning up: stopping the VM, the controller and the control plane")
	}
	if d.q != nil {
		d.q.stop(syscall.SIGTERM, 10*time.Second)
	}
	d.host.stop()
	if code := c.interrupted(); code != 0 {
		return code
	}
	fmt.Fprintln(os.Stderr, "vm-demo:", err)
	return 1
}

type demo struct {
	*common
	nodes int
	hdir  string
	host  *vmHost
	q     *qemu
}

// run returns when the demo ends: on a signal (ctx) or a failure.
func (d *demo) run() error {
	d.phase("kube-apiserver, kubectl, etcd (scripts/install-tools.sh)")
	if err := d.installTools(); err != nil {
		return err
	}
	d.phase("building harvnet-agent, harvnet-controller, vmhost and vmdemo")
	if err := d.buildHost("./cmd/harvnet-agent", "./cmd/harvnet-controller", "./e2e/vm/vmhost", "./e2e/vm/vmdemo"); err != nil {
		return err
	}
	if err := d.freshHostDir(d.hdir); err != nil {
		return err
	}
	d.phase("starting kube-apiserver and etcd on 127.0.0.1, and harvnet-controller")
	var err error
	bin := filepath.Join(d.out, "bin")
	if d.host, err = startHost(d.root, d.hdir, bin); err != nil {
		return err
	}
	port, err := d.host.port(3 * time.Minute)
	if err != nil {
		return fmt.Errorf("the control plane or the controller did not start (%v); logs in %s:\n%s", err, d.hdir,
			tailLog(filepath.Join(d.hdir, "vmhost.log"), 30))
	}

	d.phase("building the VM image")
	initrd := filepath.Join(d.out, "initrd.cpio")
	im := image{vmdir: d.vmdir, kdir: d.kdir, kver: d.kver, main: filepath.Join(d.vmdir, "demo-main"),
		hooks: [][2]string{{filepath.Join(d.vmdir, "guest-net"), "00-guest-net"}},
		bins: [][2]string{{filepath.Join(bin, "harvnet-agent"), "/usr/local/bin/harvnet-agent"},
			{filepath.Join(bin, "vmdemo"), "/usr/local/bin/vmdemo"}},
		files: [][2]string{{filepath.Join(d.hdir, "guest", "admin.kubeconfig"), "/etc/harvnet-vm/demo/admin.kubeconfig"},
			{filepath.Join(d.hdir, "guest", "agent.kubeconfig"), "/etc/harvnet-vm/demo/agent.kubeconfig"}},
		config: "export HARVNET_GUEST_KUBECONFIG=/etc/harvnet-vm/demo/admin.kubeconfig\n" +
			"export HARVNET_GUEST_AGENT_KUBECONFIG=/etc/harvnet-vm/demo/agent.kubeconfig\n" +
			"export DEMO_NODES=" + strconv.Itoa(d.nodes)}
	if err := im.build(initrd); err != nil {
		return fmt.Errorf("building the VM image: %w", err)
	}

	// A root shell in the VM on its second serial port, served by qemu as a
	// telnet server on the host's loopback.
	shport := 10023
	for ; shport < 10100 && !portFree(shport); shport++ {
	}
	log := filepath.Join(d.out, "console.log")
	d.phase(fmt.Sprintf("booting %s under qemu (TCG) with %d demo nodes; console in %s", d.kver, d.nodes, d.rel(log)))
	d.q, err = bootVM(d.vm(initrd, port, "-chardev",
		fmt.Sprintf("socket,id=shell,host=127.0.0.1,port=%d,server=on,wait=off,telnet=on", shport), "-serial", "chardev:shell"), log, nil)
	if err != nil {
		return err
	}

	d.phase("enabling the VLAN network with eth1 as default NIC, adding a NAD for VLAN 100, waiting for the nodes")
	kubeconfig := filepath.Join(d.hdir, "admin.kubeconfig")
	cmd := exec.Command(filepath.Join(bin, "vmdemo"), "host", "-nodes", strconv.Itoa(d.nodes), "-kubeconfig", kubeconfig, "-wait", "5m")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	w, err := start("vmdemo", cmd, syscall.SIGKILL)
	if err != nil {
		return err
	}
	select {
	case <-w.done:
		if w.err != nil {
			fmt.Fprint(os.Stderr, tailLog(log, 30))
			return fmt.Errorf("the nodes did not get Ready; console in %s, controller log %s", log, filepath.Join(d.hdir, "controller.log"))
		}
	case <-d.q.done:
		w.stop(syscall.SIGKILL, time.Second)
		fmt.Fprint(os.Stderr, tailLog(log, 30))
		return fmt.Errorf("the VM stopped; console in %s", log)
	case <-d.ctx.Done():
		w.stop(syscall.SIGKILL, time.Second)
		return d.ctx.Err()
	}

	kubectl := filepath.Join(d.root, "bin", "kubectl")
	fmt.Println()
	get := exec.Command(kubectl, "--kubeconfig", kubeconfig, "get", "hnodes", "-o", "wide")
	get.Stdout, get.Stderr = os.Stdout, os.Stderr
	_ = get.Run()
	fmt.Printf(`
harvnet is running: the control plane and the controller on this machine,
the demo nodes and their agents in a VM with a full kernel (%[1]s). Try, in
another shell:

  export KUBECONFIG=%[2]s
  %[3]s get hnodes -o wide
  %[3]s describe hnode node1
  %[3]s patch hnode node1 --type merge -p '{"spec":{"network":{"nic":"eth0"}}}'   # move the management NIC onto the bridge

  busybox telnet 127.0.0.1 %[4]d   # a root shell in the VM, where the nodes are:
    ip netns exec hdemo-node1 bridge -compressvlans vlan show   # VLAN 100 on the uplink
    ip netns exec hdemo-node1 ip -br addr                       # what the node really has
    ip netns exec hdemo-node1 ip link del harvester-br0          # drift: the agent repairs it at once
    tail /tmp/harvnet-demo/agent-node1.log
  (leave telnet with Ctrl-] then "quit"; the shell stays)

Logs: %[5]s, the VM's console %[6]s. Press Ctrl-C to stop and clean up.
`, d.kver, kubeconfig, kubectl, shport, filepath.Join(d.hdir, "controller.log"), log)
	select {
	case <-d.q.done:
		fmt.Fprint(os.Stderr, tailLog(log, 20))
		return fmt.Errorf("the VM stopped on its own; console in %s", log)
	case <-d.ctx.Done():
		return d.ctx.Err()
	}
}

func portFree(port int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
