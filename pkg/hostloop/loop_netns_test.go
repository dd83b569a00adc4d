package hostloop_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostloop"
	"github.com/harvnet/harvnet/pkg/hostnet"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

const br = "harvester-br0"

// deadline bounds every wait: repairs take milliseconds, the slack is for
// a loaded CI machine, not part of what is tested (benchmarks time it).
const deadline = 10 * time.Second

type running struct {
	node *nt.Node
	loop *hostloop.Loop
	// repaired receives every pass that applied something and converged.
	repaired chan time.Time
	// hold, when set, keeps every pass from finishing until it is closed.
	hold atomic.Pointer[chan struct{}]
}

func start(t testing.TB, resync time.Duration, tweak ...func(*hostloop.Config)) *running {
	t.Helper()
	node := nt.NewNode(t)
	node.AddManagementNIC(t, "eth0")
	host, err := hostnet.New(node.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	r := &running{node: node, repaired: make(chan time.Time, 100)}
	cfg := hostloop.Config{
		Options:  desired.Options{BridgeName: br, UplinkTypes: []string{"device", "bond", "veth"}},
		StateDir: t.TempDir(),
		Resync:   resync,
		OnResult: func(res reconcile.Result) {
			if h := r.hold.Load(); h != nil {
				<-*h
			}
			if len(res.Applied) > 0 && !res.Failed() {
				select {
				case r.repaired <- time.Now():
				default:
				}
			}
		},
	}
	for _, f := range tweak {
		f(&cfg)
	}
	r.loop, err = hostloop.New(host, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.loop.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	r.loop.SetInput(desired.Input{Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: "eth0"}}})
	r.waitConverged(t, "initial enslave")
	return r
}

// converged reports whether the node has the bridge up with eth0 enslaved
// and the node's addresses and default route on the bridge.
func (r *running) converged(t testing.TB) bool {
	b, ok := r.node.Link(t, br)
	nic, ok2 := r.node.Link(t, "eth0")
	if !ok || !ok2 || !b.Up() || nic.Master != br {
		return false
	}
	addrs := b.GlobalAddrs()
	slices.Sort(addrs)
	if !slices.Equal(addrs, []string{"10.11.0.5/24", "fd00:11::5/64"}) || len(nic.GlobalAddrs()) != 0 {
		return false
	}
	for _, rt := range r.node.Routes(t, "-4", br) {
		if strings.HasPrefix(rt, "default via 10.11.0.1") {
			return true
		}
	}
	return false
}

func (r *running) waitConverged(t testing.TB, what string) {
	t.Helper()
	nt.Eventually(t, deadline, nt.Check(what+": node did not converge", func() bool { return r.converged(t) }))
}

func TestLoopRepairsDriftFromNetlinkEvents(t *testing.T) {
	// A resync far beyond the deadline proves repairs come from events.
	r := start(t, time.Hour)

	r.node.IP(t, "link", "del", br)
	r.waitConverged(t, "bridge deleted")

	r.node.IP(t, "link", "set", "eth0", "nomaster")
	r.waitConverged(t, "uplink detached")

	r.node.IP(t, "link", "set", br, "down")
	r.waitConverged(t, "bridge set down")

	r.node.IP(t, "addr", "del", "10.11.0.5/24", "dev", br)
	nt.Eventually(t, deadline, nt.Check("address not restored", func() bool {
		b, _ := r.node.Link(t, br)
		return slices.Contains(b.GlobalAddrs(), "10.11.0.5/24")
	}))
}

func TestLoopRepairsSysctlOnResync(t *testing.T) {
	r := start(t, 100*time.Millisecond)
	if !r.node.HasBrNetfilter(t) {
		t.Skip("br_netfilter is not loaded on this kernel")
	}
	r.node.Exec(t, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1")
	nt.Eventually(t, deadline, nt.Check("bridge-nf-call-iptables not put back to 0", func() bool {
		return strings.TrimSpace(r.node.Exec(t, "sysctl", "-n", "net.bridge.bridge-nf-call-iptables")) == "0"
	}))
}

func TestLoopFollowsSpecChanges(t *testing.T) {
	r := start(t, time.Hour)
	r.node.AddNIC(t, "eth1")
	r.loop.SetInput(desired.Input{Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: "eth1"}}})
	nt.Eventually(t, deadline, nt.Check("eth1 not enslaved and eth0 not given its addresses back", func() bool {
		e0, _ := r.node.Link(t, "eth0")
		e1, _ := r.node.Link(t, "eth1")
		return e1.Master == br && e0.Master == "" && len(e0.GlobalAddrs()) == 2
	}))
	r.loop.SetInput(desired.Input{})
	nt.Eventually(t, deadline, nt.Check("bridge not torn down", func() bool {
		_, ok := r.node.Link(t, br)
		return !ok
	}))
}

// A pass that never ends (a hung tool or lock) must show in /healthz, so
// the kubelet restarts the agent; once passes come round again it is
// healthy.
func TestHealthyFailsWhileAPassIsStuck(t *testing.T) {
	// Generous for emulated kernels, where one pass can take a second.
	r := start(t, 50*time.Millisecond, func(c *hostloop.Config) { c.StuckAfter = 3 * time.Second })
	if err := r.loop.Healthy(); err != nil {
		t.Fatalf("a running loop is unhealthy: %v", err)
	}
	release := make(chan struct{})
	r.hold.Store(&release) // the next resync pass hangs in OnResult
	nt.Eventually(t, deadline, nt.Check("Healthy to report the stuck pass", func() bool {
		err := r.loop.Healthy()
		return err != nil && strings.Contains(err.Error(), "stuck")
	}))
	r.hold.Store(nil)
	close(release)
	nt.Eventually(t, deadline, nt.Check("Healthy once passes come round again", func() bool { return r.loop.Healthy() == nil }))
}
