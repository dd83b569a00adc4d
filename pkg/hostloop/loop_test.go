package hostloop_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/harvnet/harvnet/internal/clock"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostloop"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/monitor"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// Unit tests of the loop's logic: a fake host (an empty node, on which a
// teardown has nothing to do), a channel of change signals and a fake
// clock. No root, no kernel, no sleeps.

// fakeHost is an empty node whose reads can be made to fail or hang.
type fakeHost struct {
	mu        sync.Mutex
	fail      error
	hang      chan struct{} // non-nil: Observe waits until it is closed
	entered   chan struct{} // told when Observe starts hanging
	refreshed int           // RefreshNetfilter calls not yet reported
	// reads counts whole reads (Observe) and scoped ones (ObserveScoped).
	reads, scopedReads int
}

func (h *fakeHost) ObserveScoped(hoststate.Scope) (*hoststate.State, error) {
	h.mu.Lock()
	h.scopedReads++
	h.mu.Unlock()
	return &hoststate.State{}, nil
}

// counts returns the whole and scoped reads so far.
func (h *fakeHost) counts() (whole, scoped int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reads, h.scopedReads
}

func (h *fakeHost) Observe() (*hoststate.State, error) {
	h.mu.Lock()
	h.reads++
	hang, fail := h.hang, h.fail
	h.mu.Unlock()
	if hang != nil {
		h.entered <- struct{}{}
		<-hang
	}
	if fail != nil {
		return nil, fail
	}
	return &hoststate.State{}, nil
}

func (h *fakeHost) RefreshNetfilter() plan.Missing {
	h.mu.Lock()
	h.refreshed++
	h.mu.Unlock()
	return plan.Missing{}
}

func (h *fakeHost) Apply(a plan.Action) error {
	return errors.New("the empty fake node needs no action, got " + a.String())
}

func (h *fakeHost) setFail(err error) {
	h.mu.Lock()
	h.fail = err
	h.mu.Unlock()
}

// pass is what one reconcile pass was run with and how it ended.
type pass struct {
	refreshed bool // it re-read netfilter
	gen       int64
	failed    bool
	invalid   bool
}

type harness struct {
	t       *testing.T
	clk     *clock.Fake
	host    *fakeHost
	loop    *hostloop.Loop
	changes chan struct{}
	ticker  *clock.FakeTicker
	passes  chan pass
	watched monitor.Filter
	cfg     hostloop.Config
	// take, when set before Run, is the source's list of changed links.
	take func() ([]int, bool)
}

// newHarness builds a loop over fakes; before runs ahead of Run (inputs
// set while the agent waits for its caches, say).
func newHarness(t *testing.T, cfg hostloop.Config, before ...func(*harness)) *harness {
	h := &harness{
		t:       t,
		clk:     clock.NewFake(time.Unix(1_700_000_000, 0)),
		host:    &fakeHost{entered: make(chan struct{})},
		changes: make(chan struct{}), // unbuffered: a send returns once the loop waits again
		passes:  make(chan pass, 100),
	}
	cfg.Options = desired.Options{BridgeName: "harvester-br0", UplinkTypes: []string{"device"}}
	cfg.Clock = h.clk
	cfg.OnResult = func(res reconcile.Result) {
		h.host.mu.Lock()
		refreshed := h.host.refreshed > 0
		h.host.refreshed = 0
		h.host.mu.Unlock()
		h.passes <- pass{refreshed: refreshed, gen: res.Input.Generation, failed: res.Failed(), invalid: res.Invalid != nil}
	}
	h.cfg = cfg
	changes := func(_ context.Context, watched monitor.Filter) hostloop.Source {
		h.watched = watched
		return hostloop.Source{Signal: h.changes, Take: h.take}
	}
	var err error
	if h.loop, err = hostloop.NewWith(h.host, changes, cfg); err != nil {
		t.Fatal(err)
	}
	for _, f := range before {
		f(h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.loop.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	h.ticker = h.clk.Ticker(t)
	return h
}

// input hands the loop a teardown input told apart by its generation.
func (h *harness) input(gen int64) {
	h.loop.SetInput(desired.Input{Generation: gen})
}

// change sends one debounced change signal. It returns once the loop has
// taken it, so everything the loop did before is done: timers armed,
// passes reported.
func (h *harness) change() {
	h.t.Helper()
	select {
	case h.changes <- struct{}{}:
	case <-time.After(clock.Patience):
		h.t.Fatal("the loop did not take a change signal")
	}
}

func (h *harness) next() pass {
	h.t.Helper()
	select {
	case p := <-h.passes:
		return p
	case <-time.After(clock.Patience):
		h.t.Fatal("no pass ran")
		return pass{}
	}
}

// noPass checks that no pass ran beyond those already taken; call it
// right after change or tick, which return only once the loop is idle.
func (h *harness) noPass() {
	h.t.Helper()
	if len(h.passes) != 0 {
		h.t.Fatalf("unexpected pass: %+v", <-h.passes)
	}
}

// One step of a loop script.
type step func(h *harness)

func input(gen int64) step { return func(h *harness) { h.input(gen) } }
func change() step         { return func(h *harness) { h.change() } }
func tick() step           { return func(h *harness) { h.ticker.Tick(h.t) } }
func noPass() step         { return func(h *harness) { h.noPass() } }
func noTimer() step        { return func(h *harness) { h.clk.NoTimer(h.t) } }
func failing(on bool) step {
	return func(h *harness) {
		if on {
			h.host.setFail(errors.New("netlink: no buffer space available"))
		} else {
			h.host.setFail(nil)
		}
	}
}

// ran expects the next pass to have run with want.
func ran(want pass) step {
	return func(h *harness) {
		h.t.Helper()
		if got := h.next(); got != want {
			h.t.Fatalf("pass %+v, want %+v", got, want)
		}
	}
}

// settled sends a change and expects its pass, want, to be the next one:
// every pass the loop ran before it took the change came earlier, so an
// unexpected one fails here, and timers armed before it are all recorded.
func settled(want pass) step {
	return func(h *harness) {
		h.t.Helper()
		h.change()
		ran(want)(h)
	}
}

// kicked expects the pass that a new input ran, allowing one before it:
// a signal's pass that was still on its way when the input came may have
// run with that input too.
func kicked(want pass) step {
	return func(h *harness) {
		h.t.Helper()
		got := h.next()
		if early := want; got != want {
			early.refreshed = false
			if got == early {
				got = h.next()
			}
		}
		if got != want {
			h.t.Fatalf("pass %+v, want %+v", got, want)
		}
	}
}

// retryIn expects a retry armed for d, and fires it.
func retryIn(d time.Duration) step {
	return func(h *harness) {
		h.t.Helper()
		tm := h.clk.NextTimer(h.t)
		if tm.D != d {
			h.t.Fatalf("retry armed for %v, want %v", tm.D, d)
		}
		tm.Fire(h.t)
	}
}

// armed expects a retry armed for d, and leaves it.
func armed(d time.Duration) step {
	return func(h *harness) {
		h.t.Helper()
		if tm := h.clk.NextTimer(h.t); tm.D != d {
			h.t.Fatalf("retry armed for %v, want %v", tm.D, d)
		}
	}
}

func TestLoop(t *testing.T) {
	ok := func(gen int64) pass { return pass{gen: gen} }
	failed := func(gen int64) pass { return pass{gen: gen, failed: true} }
	// Passes run by an input, a tick or a retry re-read netfilter.
	okR := func(gen int64) pass { return pass{gen: gen, refreshed: true} }
	failedR := func(gen int64) pass { return pass{gen: gen, refreshed: true, failed: true} }
	for _, c := range []struct {
		name   string
		before []func(*harness)
		steps  []step
	}{
		{name: "nothing runs before the first input", steps: []step{
			change(), tick(), change(), noPass(), noTimer(),
			input(1), kicked(okR(1)), settled(ok(1)),
		}},
		{name: "a new input runs a pass at once that re-reads netfilter", steps: []step{
			input(1), ran(okR(1)), input(2), ran(okR(2)), settled(ok(2)),
		}},
		{name: "the same input again runs no pass (the agent's own status writes update its object)", steps: []step{
			input(1), ran(okR(1)), input(1), input(1), settled(ok(1)), input(2), ran(okR(2)),
		}},
		{name: "a change runs a pass without re-reading netfilter", steps: []step{
			input(1), ran(okR(1)), change(), ran(ok(1)), change(), ran(ok(1)),
		}},
		{name: "the resync tick re-reads netfilter", steps: []step{
			input(1), ran(okR(1)), tick(), ran(okR(1)), tick(), ran(okR(1)), settled(ok(1)),
		}},
		{name: "inputs set before Run: only the newest runs, once",
			before: []func(*harness){func(h *harness) { h.input(1); h.input(2); h.input(3) }},
			steps:  []step{ran(okR(3)), settled(ok(3))},
		},
		{name: "a failing pass is retried after 1s, doubling to 30s; success starts over at 1s", steps: []step{
			failing(true), input(1), ran(failedR(1)),
			retryIn(time.Second), ran(failedR(1)),
			retryIn(2 * time.Second), ran(failedR(1)),
			retryIn(4 * time.Second), ran(failedR(1)),
			retryIn(8 * time.Second), ran(failedR(1)),
			retryIn(16 * time.Second), ran(failedR(1)),
			retryIn(30 * time.Second), ran(failedR(1)),
			retryIn(30 * time.Second), ran(failedR(1)),
			failing(false), retryIn(30 * time.Second), ran(okR(1)),
			settled(ok(1)), noTimer(), // no retry after a success
			failing(true), change(), ran(failed(1)), retryIn(time.Second), ran(failedR(1)),
		}},
		{name: "a new input while backing off runs at once; the backoff goes on", steps: []step{
			failing(true), input(1), ran(failedR(1)), armed(time.Second),
			input(2), ran(failedR(2)), retryIn(2 * time.Second), ran(failedR(2)),
			failing(false), retryIn(4 * time.Second), ran(okR(2)), settled(ok(2)), noTimer(),
		}},
		{name: "a change that succeeds while backing off ends the backoff", steps: []step{
			failing(true), input(1), ran(failedR(1)), armed(time.Second),
			failing(false), change(), ran(ok(1)), settled(ok(1)), noTimer(),
			failing(true), change(), ran(failed(1)), armed(time.Second),
		}},
		{name: "invalid input is not retried: it waits for a change", steps: []step{
			func(h *harness) {
				h.loop.SetInput(desired.Input{Generation: 7, Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: "eth9"}}})
			},
			ran(pass{gen: 7, refreshed: true, invalid: true}), settled(pass{gen: 7, invalid: true}), noTimer(),
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, hostloop.Config{}, c.before...)
			for _, s := range c.steps {
				s(h)
			}
		})
	}
}

func TestLoopTicksEveryResync(t *testing.T) {
	for _, c := range []struct {
		resync, want time.Duration
	}{
		{0, 5 * time.Second}, // the default
		{100 * time.Millisecond, 100 * time.Millisecond},
	} {
		h := newHarness(t, hostloop.Config{Resync: c.resync})
		if h.ticker.D != c.want {
			t.Errorf("Resync %v: ticker every %v, want %v", c.resync, h.ticker.D, c.want)
		}
	}
}

// The loop watches what it manages: the bridge, the uplink of the latest
// input, and physical NICs.
func TestLoopWatchesTheUplinkOfTheLatestInput(t *testing.T) {
	h := newHarness(t, hostloop.Config{})
	h.change() // Run has asked for its changes
	vlan := func(nic string) desired.Input {
		return desired.Input{Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: nic}}}
	}
	h.loop.SetInput(vlan("bond0"))
	if !h.watched("bond0", "bond") || h.watched("bond1", "bond") {
		t.Errorf("with uplink bond0: watched(bond0) = %v, watched(bond1) = %v", h.watched("bond0", "bond"), h.watched("bond1", "bond"))
	}
	h.loop.SetInput(vlan("bond1"))
	if h.watched("bond0", "bond") || !h.watched("bond1", "bond") {
		t.Errorf("with uplink bond1: watched(bond0) = %v, watched(bond1) = %v", h.watched("bond0", "bond"), h.watched("bond1", "bond"))
	}
}

// A pass that hangs (a tool, the kernel, the xtables lock) makes the loop
// unhealthy once the loop has not come round for StuckAfter, and healthy
// again when it returns. The clock moves only while the pass hangs, so the
// time the loop noted when it last came round is known.
func TestHealthyFailsWhileAPassHangs(t *testing.T) {
	for _, c := range []struct {
		name  string
		cfg   hostloop.Config
		limit time.Duration
	}{
		{"default: a minute", hostloop.Config{}, time.Minute},
		{"three resyncs when longer than a minute", hostloop.Config{Resync: 30 * time.Second}, 90 * time.Second},
		{"as configured", hostloop.Config{StuckAfter: 3 * time.Second}, 3 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, c.cfg)
			h.input(1)
			if p := h.next(); p.failed {
				t.Fatalf("first pass failed: %+v", p)
			}
			hang := make(chan struct{})
			var release sync.Once
			// Registered after the loop's cleanup, so it runs first: a
			// failed test must not leave Run hanging.
			t.Cleanup(func() { release.Do(func() { close(hang) }) })
			h.host.mu.Lock()
			h.host.hang = hang
			h.host.mu.Unlock()
			h.change()
			select {
			case <-h.host.entered:
			case <-time.After(clock.Patience):
				t.Fatal("the change's pass did not start")
			}
			if err := h.loop.Healthy(); err != nil {
				t.Fatalf("a pass that just started: %v", err)
			}
			h.clk.Advance(c.limit)
			if err := h.loop.Healthy(); err != nil {
				t.Fatalf("after exactly %v: %v", c.limit, err)
			}
			h.clk.Advance(time.Millisecond)
			want := fmt.Sprintf("has not come round for %v (limit %v): a pass is stuck", c.limit+time.Millisecond, c.limit)
			if err := h.loop.Healthy(); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("after %v: %v, want an error saying %q", c.limit+time.Millisecond, err, want)
			}
			h.host.mu.Lock()
			h.host.hang = nil
			h.host.mu.Unlock()
			release.Do(func() { close(hang) })
			h.next()
			h.change() // taken once the loop is back waiting: it came round
			if err := h.loop.Healthy(); err != nil {
				t.Fatalf("after the pass returned: %v", err)
			}
		})
	}
}

func TestHealthyBeforeRun(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	l, err := hostloop.NewWith(&fakeHost{}, nil, hostloop.Config{Options: desired.Options{BridgeName: "harvester-br0", UplinkTypes: []string{"device"}}, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if err := l.Healthy(); err != nil {
		t.Fatalf("a loop not yet running (waiting for the API server) must be healthy: %v", err)
	}
}

// Readiness: not converged before the first pass, nor while passes fail
// (saying why), converged once one succeeds, and with invalid input too
// (the spec, not the agent, is wrong: status says so, a restart would not
// help).
func TestConverged(t *testing.T) {
	h := newHarness(t, hostloop.Config{})
	converged := func(want bool, says string) {
		t.Helper()
		err := h.loop.Converged()
		if (err == nil) != want || (err != nil && !strings.Contains(err.Error(), says)) {
			t.Fatalf("Converged() = %v, want converged %v saying %q", err, want, says)
		}
	}
	converged(false, "no pass has run yet")
	tick()(h)
	h.change()                              // taken once the tick's turn is over: the loop is idle
	converged(false, "no pass has run yet") // no input, no pass

	failing(true)(h)
	h.input(1)
	kicked(pass{gen: 1, refreshed: true, failed: true})(h)
	converged(false, "no buffer space available")

	failing(false)(h)
	settled(pass{gen: 1})(h)
	converged(true, "")

	h.loop.SetInput(desired.Input{Generation: 2, Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: "eth9"}}})
	if p := h.next(); !p.invalid {
		t.Fatalf("pass %+v, want one with invalid input", p)
	}
	converged(true, "")
}

// With a source that names what changed, event passes and the resync read
// only that; the whole host is read for a new input, and by the resync
// once per FullResync; netfilter is re-read on every resync either way.
func TestWholeReadOncePerFullResync(t *testing.T) {
	h := newHarness(t, hostloop.Config{Resync: 5 * time.Second, FullResync: 15 * time.Second}, func(h *harness) {
		h.take = func() ([]int, bool) { return []int{}, false }
	})
	expect := func(what string, whole, scoped int, refreshed bool) {
		t.Helper()
		p := h.next()
		if w, s := h.host.counts(); w != whole || s != scoped || p.refreshed != refreshed {
			t.Fatalf("%s: %d whole and %d scoped reads so far (netfilter re-read: %v), want %d and %d (%v)", what, w, s, p.refreshed, whole, scoped, refreshed)
		}
	}
	h.input(1)
	expect("new input", 1, 0, true)
	h.change()
	expect("netlink event", 1, 1, false)
	for i, want := range []struct{ whole, scoped int }{{1, 2}, {1, 3}, {2, 3}, {2, 4}} {
		h.ticker.Tick(t) // advances the clock by Resync
		expect(fmt.Sprintf("resync %d (%v after the input)", i+1, time.Duration(i+1)*5*time.Second), want.whole, want.scoped, true)
	}
}
