package hostloop

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostnet"
	"github.com/harvnet/harvnet/pkg/monitor"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// Config tunes the loop; zero values take the defaults.
type Config struct {
	Options  desired.Options
	StateDir string
	// Resync is how often what has no events (sysctl, iptables, ebtables)
	// is re-read and repaired.
	Resync time.Duration
	// Quiet and MaxWait bound the debouncing of netlink bursts.
	Quiet, MaxWait time.Duration
	// OnResult receives every pass's result; it must not block for long.
	OnResult func(reconcile.Result)
	// StuckAfter is how long the loop may go without coming round before
	// Healthy fails; default the larger of 3 resyncs and a minute (an
	// iptables call may wait that long for the xtables lock).
	StuckAfter time.Duration
}

// Loop is one agent's reconcile loop over one network namespace.
type Loop struct {
	cfg  Config
	host *hostnet.Host
	rec  *reconcile.Reconciler
	mon  *monitor.Monitor

	// beat is when the loop last came round, in Unix nanoseconds; 0 until
	// Run starts.
	beat atomic.Int64

	mu     sync.Mutex
	input  *desired.Input
	uplink string // the NIC the monitor must watch besides the inventory
	kick   chan struct{}
}

// New builds a loop for host.
func New(host *hostnet.Host, cfg Config) (*Loop, error) {
	if cfg.Resync == 0 {
		cfg.Resync = 5 * time.Second
	}
	if cfg.Quiet == 0 {
		cfg.Quiet = 5 * time.Millisecond
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = 50 * time.Millisecond
	}
	if cfg.StuckAfter == 0 {
		cfg.StuckAfter = max(3*cfg.Resync, time.Minute)
	}
	rec, err := reconcile.New(host, cfg.Options, cfg.StateDir)
	if err != nil {
		return nil, err
	}
	l := &Loop{cfg: cfg, host: host, rec: rec, kick: make(chan struct{}, 1)}
	l.mon = monitor.New(host.NsHandle(), l.watched)
	return l, nil
}

// SetInput hands the loop the latest desired input; only the newest counts.
func (l *Loop) SetInput(in desired.Input) {
	l.mu.Lock()
	l.input = &in
	l.uplink = in.Spec.Network.NIC
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// watched is the monitor's filter: the bridge, the uplink, and physical
// NICs (for the inventory). VM veths, user bridges and bonds not named as
// uplink cost nothing; the periodic resync keeps their inventory entries
// fresh.
func (l *Loop) watched(name, kind string) bool {
	l.mu.Lock()
	uplink := l.uplink
	l.mu.Unlock()
	return name == l.cfg.Options.BridgeName || name == uplink || kind == "device"
}

// Run reconciles until ctx ends.
func (l *Loop) Run(ctx context.Context) {
	go l.mon.Run(ctx)
	changes := monitor.Debounce(ctx, l.mon.Changes(), l.cfg.Quiet, l.cfg.MaxWait)
	ticker := time.NewTicker(l.cfg.Resync)
	defer ticker.Stop()
	var retry <-chan time.Time
	backoff := time.Second
	for {
		l.beat.Store(time.Now().UnixNano())
		refresh := false
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
			refresh = true // a new spec may need the netfilter picture too
		case <-changes:
		case <-ticker.C:
			refresh = true
		case <-retry:
			refresh = true
		}
		ok, ran := l.pass(refresh)
		switch {
		case !ran || ok:
			retry, backoff = nil, time.Second
		default:
			retry = time.After(backoff)
			backoff = min(backoff*2, 30*time.Second)
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
	if since := time.Since(time.Unix(0, b)); since > l.cfg.StuckAfter {
		return fmt.Errorf("the reconcile loop has not come round for %v (limit %v): a pass is stuck", since.Round(time.Millisecond), l.cfg.StuckAfter)
	}
	return nil
}

// pass runs one reconcile with the latest input, if there is one yet.
func (l *Loop) pass(refresh bool) (ok, ran bool) {
	l.mu.Lock()
	in := l.input
	l.mu.Unlock()
	if in == nil {
		return true, false
	}
	res := l.rec.Reconcile(*in, refresh)
	if l.cfg.OnResult != nil {
		l.cfg.OnResult(res)
	}
	return !res.Failed(), true
}
