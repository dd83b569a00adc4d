package probe_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/hostnet"
	"github.com/harvnet/harvnet/pkg/probe"
)

// A node whose management NIC's switch port holds the gateway addresses:
// the gateway answers ARP, NDP and echo, and a TCP listener in the switch
// accepts; a dropping ingress filter on the port makes all of them fail.
func TestProbesAgainstARealGateway(t *testing.T) {
	node := nt.NewNode(t)
	node.AddManagementNIC(t, "eth0")
	node.Switch.IP(t, "addr", "add", "10.11.0.1/24", "dev", "sw-eth0")
	node.Switch.IP(t, "addr", "add", "fd00:11::1/64", "dev", "sw-eth0", "nodad")
	var ln net.Listener
	if err := node.Switch.Do(func(ns.NetNS) (err error) { ln, err = net.Listen("tcp", "10.11.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	h, err := hostnet.New(node.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	st, err := h.Observe()
	if err != nil {
		t.Fatal(err)
	}
	probes, bad := probe.Candidates(st, []string{ln.Addr().String(), "10.11.0.77"}, false)
	if len(bad) != 0 || len(probes) != 6 {
		t.Fatalf("Candidates() = %v, bad %v; want 4 gateway probes and 2 targets", probes, bad)
	}
	r, err := probe.NewRunner(node.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	run := func() map[probe.Probe]error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second) // the agent's ProbeTimeout
		defer cancel()
		return probe.RunAll(ctx, r, probes)
	}
	res := run()
	for _, p := range probes {
		wantPass := p.Target != "10.11.0.77" // nothing holds it
		if (res[p] == nil) != wantPass {
			t.Errorf("%s: err %v, want pass %v", p, res[p], wantPass)
		}
	}
	if err := r.Probe(context.Background(), probe.Probe{Kind: probe.API}); err == nil || !strings.Contains(err.Error(), "no API client") {
		t.Errorf("API probe without a client: %v", err)
	}

	// The switch drops what the node sends: every probe fails, in time.
	if nt.FullKernel() {
		// A tc filter on the switch side; the VM image has busybox's tc.
		t.Skip("the dropping switch is covered on the host kernel")
	}
	nt.RequireTool(t, "tc")
	node.Switch.Exec(t, "tc", "qdisc", "add", "dev", "sw-eth0", "ingress")
	// Classic BPF in direct-action mode returning TC_ACT_SHOT (2): this
	// kernel has neither matchall nor the gact action.
	node.Switch.Exec(t, "tc", "filter", "add", "dev", "sw-eth0", "ingress", "bpf", "da", "bytecode", "1,6 0 0 2,")
	start := time.Now()
	res = run()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("probes took %v with a 1s deadline", d)
	}
	for _, p := range probes {
		if res[p] == nil {
			t.Errorf("%s passed while the switch drops the node's frames", p)
		}
	}
}
