package reconcile_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostloop"
	"github.com/harvnet/harvnet/pkg/probe"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// family1 counts the trials of fault family 1 inside the probe window.
type family1 struct {
	mu               sync.Mutex
	trials, failures int
	worst            time.Duration
}

func (f *family1) done(t *testing.T, recovery time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.trials++
	if t.Failed() {
		f.failures++
	}
	f.worst = max(f.worst, recovery)
}

// Fault family 1, inside the probe window: an agent killed after any
// action of a change that moves the management NIC's addresses (the
// probes that passed before it and the input to fall back to are in the
// state file from before the first action), or after all of them while
// it waits for the probes, must be finished by the next agent from the
// state file alone: with the node healthy it completes and keeps the
// change (as an uninterrupted run leaves the node); with the switch
// dropping the node's frames it rolls back to exactly the node before
// the change. The node must answer on its management address wherever the
// agent died.
func TestFamily1AKillInsideTheProbeWindowIsFinished(t *testing.T) {
	nt.RequireTool(t, "tc")
	fast := func(in desired.Input) desired.Input {
		in.Probes.TimeoutSeconds = 3 // a few probe rounds; what is tested is who finishes the window
		return in
	}
	scenarios := []struct {
		name          string
		before, after desired.Input
	}{
		{"enslave the management NIC", desired.Input{}, fast(vlanSpec("eth0"))},
		{"release the management NIC", vlanSpec("eth0"), fast(vlanSpec(""))},
		{"switch from the management NIC to eth1", vlanSpec("eth0"), fast(vlanSpec("eth1"))},
		{"switch from eth1 to the management NIC", vlanSpec("eth1"), fast(vlanSpec("eth0"))},
	}
	var fam family1
	t.Cleanup(func() {
		fmt.Printf("family 1 (kill inside the probe window): trials=%d failures=%d worst-gap=%v (restart to finished)\n", fam.trials, fam.failures, fam.worst.Round(time.Millisecond))
	})
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if nt.FullKernel() {
				t.Skip("covered on the host kernel")
			}
			ref := probedCrashNode(t)
			ref.reconcile(t, sc.before)
			wantBefore := shape(t, ref.node)
			n := len(ref.reconcile(t, sc.after).Applied)
			wantAfter := shape(t, ref.node)
			for k := 0; k <= n; k++ {
				for _, broken := range []bool{false, true} {
					if broken && k != 0 && k != n/2 && k != n {
						continue // rollbacks wait out a window: a sample of kill points
					}
					outcome := map[bool]string{false: "kept", true: "rolled back"}[broken]
					t.Run(fmt.Sprintf("killed after %d of %d actions, %s", k, n, outcome), func(t *testing.T) {
						t.Parallel()
						f := probedCrashNode(t)
						f.reconcile(t, sc.before)
						ch := &crashingHost{Host: f.host, left: k}
						dying, err := reconcile.New(ch, testOpts, f.dir)
						if err != nil {
							t.Fatal(err)
						}
						dying.WithProbes(reconcile.Probes{Prober: f.prober})
						dying.Reconcile(sc.after, true)
						if k < n && !ch.crashed {
							t.Fatalf("the pass ended within %d actions; an uninterrupted one took %d", k, n)
						}
						st, _, err := checkpoint.ReadState(checkpoint.Path(f.dir))
						if err != nil || st.Pending == nil {
							t.Fatalf("state file where the agent died: pending %+v, err %v; want the change recorded before its first action", st.Pending, err)
						}
						if msg := reachable(t, f.node); msg != "" {
							t.Errorf("node cut off where the agent died: %s\n%s", msg, shape(t, f.node))
						}
						if broken {
							f.node.Switch.Exec(t, "tc", "qdisc", "add", "dev", "sw-eth0", "ingress")
							f.node.Switch.Exec(t, "tc", "filter", "add", "dev", "sw-eth0", "ingress", "bpf", "da", "bytecode", "1,6 0 0 2,")
						}
						restarted := time.Now()
						recovery := f.restart(t)
						want := map[bool]string{false: wantAfter, true: wantBefore}[broken]
						nt.Eventually(t, 3*reconcile.DefaultProbeWindow, func() string {
							st, _, err := checkpoint.ReadState(checkpoint.Path(f.dir))
							switch {
							case err != nil:
								return err.Error()
							case st.Pending != nil:
								return "the change is still pending"
							case broken != (st.RolledBack != nil):
								return fmt.Sprintf("rolled back: %+v", st.RolledBack)
							}
							if got := shape(t, f.node); got != want {
								return fmt.Sprintf("the next agent left\n%s\nwant\n%s", got, want)
							}
							return ""
						})
						recovery()
						fam.done(t, time.Since(restarted))
					})
				}
			}
		})
	}
}

type probedFixture struct {
	*crashFixture
	prober *probe.Runner
}

// probedCrashNode is crashNode with a gateway on the switch side, for the
// gateway probes.
func probedCrashNode(t *testing.T) *probedFixture {
	t.Helper()
	f := crashNode(t)
	f.node.Switch.IP(t, "addr", "add", "10.11.0.1/24", "dev", "sw-eth0")
	f.node.Switch.IP(t, "addr", "add", "fd00:11::1/64", "dev", "sw-eth0", "nodad")
	pr, err := probe.NewRunner(f.node.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pr.Close)
	return &probedFixture{crashFixture: f, prober: pr}
}

// restart runs the next agent's loop over the same state directory with
// no input from anyone; the returned function stops it.
func (f *probedFixture) restart(t *testing.T) func() {
	t.Helper()
	loop, err := hostloop.New(f.host, hostloop.Config{Options: testOpts, StateDir: f.dir, Resync: time.Second, Prober: f.prober})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(ctx); close(done) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}
