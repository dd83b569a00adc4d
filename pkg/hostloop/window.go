package hostloop

import (
	"context"
	"time"

	"github.com/harvnet/harvnet/internal/clock"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/probe"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// probeInterval is how often the probes still failing inside a window are
// tried again.
const probeInterval = 500 * time.Millisecond

// verdict ends a probe window: keep the change, or roll it back because
// failed did not pass again in time.
type verdict struct {
	window checkpoint.Pending
	commit bool
	failed probe.Probe
	why    error
}

// judge is the window's rule: the change is kept once every probe that
// passed before it has passed again; it is rolled back when one has not by
// until, naming the first such probe (in the order they were recorded).
func judge(w checkpoint.Pending, passed map[probe.Probe]bool, last map[probe.Probe]error, until, now time.Time) (verdict, bool) {
	for _, p := range w.Probes {
		if !passed[p] {
			if now.Before(until) {
				return verdict{}, false
			}
			return verdict{window: w, failed: p, why: last[p]}, true
		}
	}
	return verdict{window: w, commit: true}, true
}

// watch runs a window's probes beside the loop, which keeps reconciling
// (drift repair goes on) until the verdict arrives on out.
func watch(ctx context.Context, pr probe.Prober, clk clock.Clock, w checkpoint.Pending, until time.Time, out chan<- verdict) {
	passed := map[probe.Probe]bool{}
	last := map[probe.Probe]error{}
	for {
		var todo []probe.Probe
		for _, p := range w.Probes {
			if !passed[p] {
				todo = append(todo, p)
			}
		}
		pctx, cancel := context.WithTimeout(ctx, reconcile.ProbeTimeout)
		for p, err := range probe.RunAll(pctx, pr, todo) {
			if err == nil {
				passed[p] = true
			} else {
				last[p] = err
			}
		}
		cancel()
		if v, done := judge(w, passed, last, until, clk.Now()); done {
			select {
			case out <- v:
			case <-ctx.Done():
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-clk.After(probeInterval):
		}
	}
}

// follow starts watching the reconciler's pending change, or stops
// watching one that was replaced or ended. A window found in the state
// file at start gets at least a full window from now: the restarted
// agent first has to finish the change.
func (l *Loop) follow(ctx context.Context, restarted bool) {
	p := l.rec.Pending()
	if l.watching != nil && (p == nil || !p.Deadline.Equal(l.watching.Deadline)) {
		l.stopWatch()
		l.watching, l.stopWatch = nil, nil
	}
	if p == nil || l.watching != nil || l.cfg.Prober == nil {
		return
	}
	until := p.Deadline
	if fresh := l.cfg.Clock.Now().Add(reconcile.Window(p.Next)); restarted && fresh.After(until) {
		until = fresh
	}
	wctx, cancel := context.WithCancel(ctx)
	l.watching, l.stopWatch = p, cancel
	go watch(wctx, l.cfg.Prober, l.cfg.Clock, *p, until, l.verdicts)
}

// decide applies a verdict: commit, or roll back and restore the last
// good input at once.
func (l *Loop) decide(v verdict) {
	if l.watching != nil && l.watching.Deadline.Equal(v.window.Deadline) {
		l.stopWatch()
		l.watching, l.stopWatch = nil, nil
	}
	var err error
	if v.commit {
		err = l.rec.Commit(v.window)
	} else {
		err = l.rec.RollBack(v.window, v.failed, v.why)
	}
	if err != nil {
		l.setConverged("recording the end of a probe window in the state file: " + err.Error())
	}
}
