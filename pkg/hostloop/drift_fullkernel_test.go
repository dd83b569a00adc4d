package hostloop_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostloop"
	"github.com/harvnet/harvnet/pkg/hostnet"
)

// Drift repair of what only a full kernel has: bridge VLAN filtering, the
// broute table and bonds. Each test skips on a kernel without its
// capability and must run on a full kernel (scripts/vm-test.sh).

// runAgent starts a loop on node with the agent's default uplink types
// (device and bond) plus veth, and hands it in.
func runAgent(t *testing.T, node *nt.Node, resync time.Duration, in desired.Input) *hostloop.Loop {
	t.Helper()
	host, err := hostnet.New(node.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	loop, err := hostloop.New(host, hostloop.Config{
		Options:  desired.Options{BridgeName: br, UplinkTypes: []string{"device", "bond", "veth"}},
		StateDir: t.TempDir(),
		Resync:   resync,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	loop.SetInput(in)
	return loop
}

func vlanInput(nic string, vids ...int) desired.Input {
	return desired.Input{
		Spec:  v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: nic}},
		VLANs: vids,
	}
}

// vlansAsWanted reports whether the bridge filters VLANs and the uplink
// carries exactly want besides the default PVID 1.
func vlansAsWanted(t testing.TB, node *nt.Node, uplink string, want []int) bool {
	b, ok := node.Link(t, br)
	if !ok || b.LinkInfo.Data.VLANFiltering == nil || *b.LinkInfo.Data.VLANFiltering != 1 {
		return false
	}
	if l, ok := node.Link(t, uplink); !ok || l.Master != br {
		return false
	}
	return slices.Equal(node.BridgeVLANs(t, uplink), append([]int{1}, want...))
}

// waitWhole waits until whole holds; if it does not, it fails the test
// with what the node looks like.
func waitWhole(t *testing.T, node *nt.Node, what string, whole func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !whole() {
		if time.Now().After(end) {
			links, _ := node.TryIP("-d", "-br", "link")
			vlans, _ := node.TryIP("-d", "link", "show", br)
			pv := node.Exec(t, "bridge", "vlan", "show")
			t.Fatalf("after %v: %s\nlinks:\n%s\nbridge:\n%s\nbridge vlan show:\n%s", deadline, what, links, vlans, pv)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// repaired applies a drift and waits for the agent to undo it, logging how
// long that took.
func repaired(t *testing.T, node *nt.Node, what string, drift func(), whole func() bool) {
	t.Helper()
	drift()
	start := time.Now()
	waitWhole(t, node, what+": not repaired", whole)
	t.Logf("repaired in %v: %s", time.Since(start).Round(time.Millisecond), what)
}

func TestLoopRepairsVLANDriftFromNetlinkEvents(t *testing.T) {
	nt.RequireKernel(t, nt.KernelHasVLANFiltering(t), "bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)")
	node := nt.NewNode(t)
	node.AddManagementNIC(t, "eth0")
	want := []int{10, 11, 12, 20}
	// A resync far beyond the deadline: every repair must come from an event.
	runAgent(t, node, time.Hour, vlanInput("eth0", 20, 10, 11, 12))
	whole := func() bool { return vlansAsWanted(t, node, "eth0", want) }
	waitWhole(t, node, "VLANs not set up", whole)

	repaired(t, node, "vlan_filtering turned off", func() {
		node.IP(t, "link", "set", br, "type", "bridge", "vlan_filtering", "0")
	}, whole)
	repaired(t, node, "VID 11 removed from the uplink", func() {
		node.Exec(t, "bridge", "vlan", "del", "dev", "eth0", "vid", "11")
	}, whole)
	repaired(t, node, "foreign VID 99 added to the uplink", func() {
		node.Exec(t, "bridge", "vlan", "add", "dev", "eth0", "vid", "99")
	}, whole)
	repaired(t, node, "bridge deleted", func() { node.IP(t, "link", "del", br) }, func() bool {
		b, _ := node.Link(t, br)
		return whole() && slices.Contains(b.GlobalAddrs(), "10.11.0.5/24")
	})
	out := node.Exec(t, "bridge", "-compressvlans", "vlan", "show", "dev", "eth0")
	_, rows, _ := strings.Cut(strings.TrimSpace(out), "\n")
	t.Logf("proved: vlan_filtering=1 and the uplink's VLANs (%s) restored from netlink events alone after 4 kinds of drift",
		strings.Join(strings.Fields(rows), " "))
}

func TestLoopRepairsBrouteRulesOnResync(t *testing.T) {
	nt.RequireTool(t, "ebtables-legacy")
	nt.RequireKernel(t, nt.KernelHasBroute(t), "the ebtables broute table (CONFIG_BRIDGE_EBT_BROUTE)")
	node := nt.NewNode(t)
	node.AddNIC(t, "eth1")
	// ebtables has no events: the periodic netfilter check repairs it.
	runAgent(t, node, 100*time.Millisecond, vlanInput("eth1"))
	mac := func() string { l, _ := node.Link(t, "eth1"); return l.Address }
	whole := func() bool {
		n := 0
		for _, r := range node.EbtablesRules(t, "broute", "BROUTING") {
			if strings.Contains(r.Rule, mac()+" -i eth1 --ip-proto udp --ip-dport 67:68 -j DROP") {
				n++
			}
		}
		return n == 2
	}
	waitWhole(t, node, "broute rules not added", whole)
	repaired(t, node, "BROUTING flushed", func() { node.Exec(t, "ebtables-legacy", "-t", "broute", "-F", "BROUTING") }, whole)
	t.Logf("proved: the two broute DHCP rules for eth1 came back after a flush")
}

func TestLoopRepairsBondUplinkDrift(t *testing.T) {
	nt.RequireKernel(t, nt.KernelHasBonding(t), "bonding (CONFIG_BONDING)")
	node := nt.NewNode(t)
	node.AddBond(t, "bond0", "active-backup", []string{"eth1", "eth2"}, "10.33.0.5/24")
	node.IP(t, "route", "add", "default", "via", "10.33.0.1", "dev", "bond0", "proto", "static")
	runAgent(t, node, time.Hour, vlanInput("bond0"))
	whole := func() bool {
		b, ok := node.Link(t, br)
		bond, ok2 := node.Link(t, "bond0")
		if !ok || !ok2 || !b.Up() || bond.Master != br || len(bond.GlobalAddrs()) != 0 {
			return false
		}
		for _, s := range []string{"eth1", "eth2"} {
			if l, _ := node.Link(t, s); l.Master != "bond0" {
				return false
			}
		}
		for _, r := range node.Routes(t, "-4", br) {
			if strings.HasPrefix(r, "default via 10.33.0.1") {
				return slices.Equal(b.GlobalAddrs(), []string{"10.33.0.5/24"})
			}
		}
		return false
	}
	waitWhole(t, node, "bond0 not enslaved with its address and route on the bridge", whole)
	repaired(t, node, "bond0 taken off the bridge", func() { node.IP(t, "link", "set", "bond0", "nomaster") }, whole)
	repaired(t, node, "bond0 set down", func() { node.IP(t, "link", "set", "bond0", "down") }, func() bool {
		l, _ := node.Link(t, "bond0")
		return whole() && l.Up()
	})
	repaired(t, node, "bridge deleted", func() { node.IP(t, "link", "del", br) }, whole)
	t.Logf("proved: bond0 (slaves eth1, eth2) stays the uplink with its address and default route on %s through drift", br)
}
