package hostloop

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netns"

	"github.com/harvnet/harvnet/internal/clock"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostnet"
	"github.com/harvnet/harvnet/pkg/metrics"
	"github.com/harvnet/harvnet/pkg/monitor"
	"github.com/harvnet/harvnet/pkg/probe"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// Config tunes the loop; zero values take the defaults.
type Config struct {
	Options  desired.Options
	StateDir string
	// Resync is how often what has no events (sysctl, iptables, ebtables)
	// is re-read and repaired.
	Resync time.Duration
	// FullResync is how often a pass reads the whole host network again
	// rather than only what netlink events named: a safety net for a
	// change whose event never came. Default a minute; at least Resync.
	FullResync time.Duration
	// Quiet and MaxWait bound the debouncing of netlink bursts.
	Quiet, MaxWait time.Duration
	// OnResult receives every pass's result; it must not block for long.
	OnResult func(reconcile.Result)
	// StuckAfter is how long the loop may go without coming round before
	// Healthy fails; default the larger of 3 resyncs and a minute (an
	// iptables call may wait that long for the xtables lock).
	StuckAfter time.Duration
	// Clock is the system clock when nil; tests pass a fake.
	Clock clock.Clock
	// Metrics counts passes, actions, failures and netlink events;
	// unregistered ones when nil.
	Metrics *metrics.Agent
	// Prober turns on probes and rollback around changes that move the
	// node's own addresses (see reconcile.MovesNode); nil: neither.
	Prober probe.Prober
	// ProbeAPI says the prober can check the API server.
	ProbeAPI bool
}

// A failed pass is retried after firstBackoff, doubling up to maxBackoff
// while passes keep failing; a pass that does not fail starts over.
const (
	firstBackoff = time.Second
	maxBackoff   = 30 * time.Second
)

func (c Config) withDefaults() Config {
	if c.Resync == 0 {
		c.Resync = 5 * time.Second
	}
	if c.FullResync == 0 {
		c.FullResync = time.Minute
	}
	c.FullResync = max(c.FullResync, c.Resync)
	if c.Quiet == 0 {
		c.Quiet = 5 * time.Millisecond
	}
	if c.MaxWait == 0 {
		c.MaxWait = 50 * time.Millisecond
	}
	if c.StuckAfter == 0 {
		c.StuckAfter = max(3*c.Resync, time.Minute)
	}
	c.Clock = clock.Or(c.Clock)
	c.Metrics = metrics.OrAgent(c.Metrics)
	return c
}

// Changes starts watching the host until ctx ends and returns a debounced
// "look again" signal for changes to the links watched accepts.
type Changes func(ctx context.Context, watched monitor.Filter) Source

// Source is a debounced "look again" signal and, when it can say, which
// links changed since it was last asked (see monitor.Monitor.Take).
type Source struct {
	Signal <-chan struct{}
	// Take is nil when the source cannot say: every pass then reads the
	// whole host.
	Take func() (changed []int, all bool)
}

// NetlinkChanges is the source of changes New uses for a host in ns
// (netns.None() for the caller's), for NewWith over a wrapped host.
func NetlinkChanges(ns netns.NsHandle, cfg Config) Changes {
	cfg = cfg.withDefaults()
	return netlinkChanges(ns, cfg.Quiet, cfg.MaxWait, cfg.Metrics)
}

// netlinkChanges watches ns (netns.None() for the caller's) with netlink
// subscriptions, debouncing bursts by quiet and maxWait.
func netlinkChanges(ns netns.NsHandle, quiet, maxWait time.Duration, met *metrics.Agent) Changes {
	return func(ctx context.Context, watched monitor.Filter) Source {
		m := monitor.New(ns, watched).WithMetrics(met)
		go m.Run(ctx)
		return Source{Signal: monitor.Debounce(ctx, m.Changes(), quiet, maxWait), Take: m.Take}
	}
}

// Loop is one agent's reconcile loop over one network namespace.
type Loop struct {
	cfg     Config
	rec     *reconcile.Reconciler
	changes Changes

	// beat is when the loop last came round, in Unix nanoseconds by
	// cfg.Clock; 0 until Run starts.
	beat atomic.Int64
	// unconverged says why the last pass left the host short of the spec;
	// "" once one converged. Set before the first pass, so that readiness
	// means "this node is as its object asks", not "the agent started".
	unconverged atomic.Pointer[string]

	// The probe window being watched (Run's goroutine only).
	watching  *checkpoint.Pending
	stopWatch context.CancelFunc
	verdicts  chan verdict
	resumed   bool // the state file had input at start; no pass ran yet
	// readFailed says the last pass could not read the host, so the
	// links changed before it are not in the last read.
	readFailed bool
	// lastFull is when a pass last read the whole host.
	lastFull time.Time

	mu     sync.Mutex
	input  *desired.Input
	uplink string // the NIC the monitor must watch besides the inventory
	kick   chan struct{}
}

// New builds the loop for a real host, watching its namespace's netlink
// events.
func New(host *hostnet.Host, cfg Config) (*Loop, error) {
	cfg = cfg.withDefaults()
	return NewWith(host, netlinkChanges(host.NsHandle(), cfg.Quiet, cfg.MaxWait, cfg.Metrics), cfg)
}

// NewWith builds a loop over any host and source of changes, so that the
// loop's logic can be driven by fakes.
func NewWith(host reconcile.Host, changes Changes, cfg Config) (*Loop, error) {
	cfg = cfg.withDefaults()
	rec, err := reconcile.New(host, cfg.Options, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	if cfg.Prober != nil {
		rec.WithProbes(reconcile.Probes{Prober: cfg.Prober, API: cfg.ProbeAPI, Clock: cfg.Clock})
	}
	l := &Loop{cfg: cfg, rec: rec, changes: changes, kick: make(chan struct{}, 1), verdicts: make(chan verdict, 1)}
	zeroLabels(cfg.Metrics)
	l.setConverged("no pass has run yet: waiting for this node's Node object or for the API server")
	return l, nil
}

func (l *Loop) setConverged(why string) { l.unconverged.Store(&why) }

// Converged fails until a pass has left the host as the input asks, and
// again whenever one does not (an action failed, the state file is corrupt,
// the host cannot be read). What the spec rules out (invalid input) or the
// kernel cannot do is as converged as the node can be: it is reported in
// status, and a restart would not change it. Readiness probes this, so a
// rolling update stops at the first node whose new agent cannot converge.
func (l *Loop) Converged() error {
	if why := *l.unconverged.Load(); why != "" {
		return errors.New(why)
	}
	return nil
}

// SetInput hands the loop the latest desired input; only the newest
// counts. The same input again runs no pass: the agent hands one over on
// every update of its object, its own status writes included, and a pass
// for each would read the whole host twice a second in a storm.
func (l *Loop) SetInput(in desired.Input) {
	l.mu.Lock()
	if l.input != nil && reflect.DeepEqual(*l.input, in) {
		l.mu.Unlock()
		return
	}
	l.input = &in
	l.uplink = in.Spec.Network.NIC
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// watched is the monitor's filter: the bridge, the uplink, harvnet's bond
// (a slave failing over changes it), and physical NICs (for the
// inventory and bond slaves). VM veths, user bridges and bonds not named as
// uplink cost nothing; the periodic resync keeps their inventory entries
// fresh.
func (l *Loop) watched(name, kind string) bool {
	l.mu.Lock()
	uplink := l.uplink
	l.mu.Unlock()
	return name == l.cfg.Options.BridgeName || name == uplink || name == l.cfg.Options.Bond() || kind == "device"
}

// Run reconciles until ctx ends.
func (l *Loop) Run(ctx context.Context) {
	src := l.changes(ctx, l.watched)
	ticker := l.cfg.Clock.NewTicker(l.cfg.Resync)
	defer ticker.Stop()
	var retry <-chan time.Time
	backoff := firstBackoff
	defer func() {
		if l.stopWatch != nil {
			l.stopWatch()
		}
	}()
	// The state file's input first: an agent that starts while the API
	// server does not answer keeps the node as it was last applied (and
	// finishes a change it was killed in), repairing drift meanwhile.
	if p := l.rec.Persisted(); p != nil {
		l.mu.Lock()
		if l.input == nil {
			l.uplink = p.Spec.Network.NIC
		}
		l.mu.Unlock()
		// A window left by the agent before is watched after this
		// agent's first pass has finished the change.
		l.resumed = true
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	for {
		l.beat.Store(l.cfg.Clock.Now().UnixNano())
		refresh, full := false, false
		select {
		case <-ctx.Done():
			return
		case v := <-l.verdicts:
			l.decide(v)
		case <-l.kick:
			// A new spec may need the netfilter picture too, and is
			// planned against a fresh read of everything.
			refresh, full = true, true
		case <-src.Signal:
		case <-ticker.C():
			refresh = true
			full = !l.cfg.Clock.Now().Before(l.lastFull.Add(l.cfg.FullResync))
		case <-retry:
			refresh, full = true, true
		}
		ok, ran := l.pass(refresh, full, src.Take)
		l.follow(ctx, l.resumed)
		l.resumed = false
		switch {
		case !ran || ok:
			retry, backoff = nil, firstBackoff
		default:
			// A pass that a new input or a change ran while backing off
			// replaces the pending retry; the backoff keeps growing.
			retry = l.cfg.Clock.After(backoff)
			backoff = min(backoff*2, maxBackoff)
		}
	}
}

// Healthy fails when the loop has not come round for StuckAfter: a pass
// stuck in the kernel, a tool or a lock, which only a restart ends. Before
// Run it is healthy: the agent may be waiting for the API server, and a
// restart would not bring that back sooner.
func (l *Loop) Healthy() error {
	b := l.beat.Load()
	if b == 0 {
		return nil
	}
	if since := l.cfg.Clock.Now().Sub(time.Unix(0, b)); since > l.cfg.StuckAfter {
		return fmt.Errorf("the reconcile loop has not come round for %v (limit %v): a pass is stuck", since.Round(time.Millisecond), l.cfg.StuckAfter)
	}
	return nil
}

// pass runs one reconcile with the latest input, if there is one yet. A
// pass for netlink events, and a resync (which also re-reads netfilter),
// reads only the links events named and harvnet's own; a new input, a
// retry, events that may have been lost, a failed read, and a resync once
// per FullResync read the whole host.
func (l *Loop) pass(refresh, full bool, take func() ([]int, bool)) (ok, ran bool) {
	l.mu.Lock()
	in := l.input
	l.mu.Unlock()
	if in == nil {
		in = l.rec.Persisted()
	}
	if in == nil {
		return true, false // what changed is kept for the first pass
	}
	var changed []int
	if take != nil {
		// Taken before the read, and also on full passes, so that the
		// next event pass starts from this read. A pass that could not
		// read the host leaves the next one to read it all.
		c, all := take()
		if !all && !l.readFailed {
			changed = c
		}
	}
	start := l.cfg.Clock.Now()
	var res reconcile.Result
	if full || changed == nil {
		res = l.rec.Reconcile(*in, refresh)
		if res.Err == nil {
			l.lastFull = start
		}
	} else {
		res = l.rec.ReconcileChanged(*in, changed, refresh)
	}
	l.cfg.Metrics.PassDuration.Observe(l.cfg.Clock.Now().Sub(start).Seconds())
	l.readFailed = res.Err != nil
	count(l.cfg.Metrics, res)
	if l.cfg.OnResult != nil {
		l.cfg.OnResult(res)
	}
	l.setConverged(unconverged(res))
	return !res.Failed(), true
}

// unconverged says why a pass did not converge, "" when it did.
func unconverged(res reconcile.Result) string {
	switch {
	case !res.Failed():
		return ""
	case res.Checkpoint != nil:
		return res.Checkpoint.Error()
	case res.Err != nil:
		return res.Err.Error()
	}
	for _, s := range res.Steps {
		if s.Err != nil {
			return fmt.Sprintf("%s: %v", s.Phase, s.Err)
		}
		if len(s.Actions) > 0 && s.Skipped == "" {
			return fmt.Sprintf("%s: still to do: %s", s.Phase, s.Actions[0])
		}
	}
	return "the last pass did not converge"
}
