package hostloop

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/harvnet/harvnet/internal/clock"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/probe"
)

var (
	gwARP  = probe.Probe{Kind: probe.ARP, Target: "10.11.0.1", Gateway: true}
	gwEcho = probe.Probe{Kind: probe.ICMP, Target: "10.11.0.1", Gateway: true}
	apiPr  = probe.Probe{Kind: probe.API}
	t0     = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
)

func TestJudge(t *testing.T) {
	w := checkpoint.Pending{Probes: []probe.Probe{gwARP, gwEcho, apiPr}, Deadline: t0.Add(10 * time.Second)}
	down := errors.New("no ARP reply")
	cases := []struct {
		name       string
		passed     []probe.Probe
		now        time.Time
		done       bool
		commit     bool
		failed     probe.Probe
		wantReason error
	}{
		{"all passed again: keep", []probe.Probe{gwARP, gwEcho, apiPr}, t0.Add(time.Second), true, true, probe.Probe{}, nil},
		{"all passed, even after the deadline: keep", []probe.Probe{gwARP, gwEcho, apiPr}, t0.Add(time.Minute), true, true, probe.Probe{}, nil},
		{"one still failing inside the window: wait", []probe.Probe{gwEcho, apiPr}, t0.Add(9 * time.Second), false, false, probe.Probe{}, nil},
		{"one still failing at the deadline: roll back", []probe.Probe{gwEcho, apiPr}, t0.Add(10 * time.Second), true, false, gwARP, down},
		{"several failing: the first recorded is named", []probe.Probe{gwARP}, t0.Add(11 * time.Second), true, false, gwEcho, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			passed := map[probe.Probe]bool{}
			for _, p := range c.passed {
				passed[p] = true
			}
			v, done := judge(w, passed, map[probe.Probe]error{gwARP: down}, w.Deadline, c.now)
			if done != c.done || v.commit != c.commit || v.failed != c.failed || v.why != c.wantReason {
				t.Errorf("judge() = %+v, done %v; want done %v commit %v failed %v why %v", v, done, c.done, c.commit, c.failed, c.wantReason)
			}
		})
	}
}

// scriptedProber fails each probe until the round given for it.
type scriptedProber struct {
	mu     sync.Mutex
	rounds map[probe.Probe]int
	passAt map[probe.Probe]int // 0: never
}

func (s *scriptedProber) Probe(_ context.Context, p probe.Probe) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rounds[p]++
	if at := s.passAt[p]; at != 0 && s.rounds[p] >= at {
		return nil
	}
	return errors.New(p.String() + " is down")
}

// The window with the fake clock: probes are tried again every
// probeInterval; a probe that passes once is not run again; the verdict
// comes when all passed, or at the deadline naming the one still failing.
func TestWatch(t *testing.T) {
	cases := []struct {
		name   string
		passAt map[probe.Probe]int
		rounds int // timers fired before the verdict
		commit bool
		failed probe.Probe
	}{
		{"all pass at once", map[probe.Probe]int{gwARP: 1, gwEcho: 1, apiPr: 1}, 0, true, probe.Probe{}},
		{"the gateway answers on the third try", map[probe.Probe]int{gwARP: 3, gwEcho: 1, apiPr: 1}, 2, true, probe.Probe{}},
		{"the gateway never answers again", map[probe.Probe]int{gwEcho: 1, apiPr: 2}, 20, false, gwARP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := clock.NewFake(t0)
			pr := &scriptedProber{rounds: map[probe.Probe]int{}, passAt: c.passAt}
			w := checkpoint.Pending{Probes: []probe.Probe{gwARP, gwEcho, apiPr}, Deadline: t0.Add(10 * time.Second)}
			out := make(chan verdict, 1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go watch(ctx, pr, clk, w, w.Deadline, out)
			for range c.rounds {
				tm := clk.NextTimer(t)
				if tm.D != probeInterval {
					t.Fatalf("waited %v between rounds, want %v", tm.D, probeInterval)
				}
				tm.Fire(t)
			}
			var v verdict
			select {
			case v = <-out:
			case <-time.After(clock.Patience):
				t.Fatal("no verdict")
			}
			if v.commit != c.commit || v.failed != c.failed || !v.window.Deadline.Equal(w.Deadline) {
				t.Errorf("verdict %+v, want commit %v failed %v", v, c.commit, c.failed)
			}
			if !c.commit && (v.why == nil || clk.Now().Before(w.Deadline)) {
				t.Errorf("rolled back at %v (deadline %v) with reason %v", clk.Now(), w.Deadline, v.why)
			}
			clk.NoTimer(t)
			pr.mu.Lock()
			defer pr.mu.Unlock()
			if n := pr.rounds[gwEcho]; n != 1 {
				t.Errorf("a probe that passed ran %d times, want once", n)
			}
		})
	}
}
