package monitor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/vishvananda/netns"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/monitor"
)

const deadline = 10 * time.Second

func startMonitor(t *testing.T, n *nt.NS, filter monitor.Filter) *monitor.Monitor {
	t.Helper()
	m := monitor.New(netns.NsHandle(n.Fd()), filter)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	// The first signal says the subscriptions are in place.
	select {
	case <-m.Changes():
	case <-time.After(deadline):
		t.Fatal("monitor never subscribed")
	}
	return m
}

func onlyBridge(name, kind string) bool { return name == "br0" }

func TestMonitorSignalsChangesToWatchedLinks(t *testing.T) {
	n := nt.NewNS(t)
	m := startMonitor(t, n, onlyBridge)
	for _, change := range [][]string{
		{"link", "add", "br0", "type", "bridge"},
		{"link", "set", "br0", "up"},
		{"addr", "add", "10.5.0.1/24", "dev", "br0"},
		{"route", "add", "10.6.0.0/24", "via", "10.5.0.2", "dev", "br0"},
		{"link", "del", "br0"},
	} {
		n.IP(t, change...)
		select {
		case <-m.Changes():
		case <-time.After(deadline):
			t.Fatalf("no signal after ip %v", change)
		}
	}
}

// physicalOnly watches what the agent watches of links it was not named:
// physical NICs (loopback, listed at subscription, is left out so that only
// the churn counts). A VM's veth must never look like one.
func physicalOnly(name, kind string) bool { return kind == "device" && name != "lo" }

func TestMonitorIgnoresVMChurn(t *testing.T) {
	n := nt.NewNS(t)
	n.IP(t, "link", "add", "vmbr", "type", "bridge")
	m := startMonitor(t, n, physicalOnly)
	const vms = 20
	for i := 0; i < vms; i++ {
		vm := fmt.Sprintf("vm%d", i)
		n.IP(t, "link", "add", vm, "type", "veth", "peer", "name", vm+"p")
		// Attaching a port sends bridge port notifications, which carry no
		// link kind: they must not read as a physical NIC.
		n.IP(t, "link", "set", vm, "master", "vmbr")
	}
	// Each veth pair is at least two link events.
	nt.Eventually(t, deadline, nt.Check("monitor did not read the VM events", func() bool {
		_, ignored := m.Stats()
		return ignored >= 2*vms
	}))
	select {
	case <-m.Changes():
		seen, ignored := m.Stats()
		t.Fatalf("VM veth churn caused a reconcile signal (seen %d, ignored %d)", seen, ignored)
	default:
	}
}
