package monitor

import (
	"context"
	"testing"
	"time"

	"github.com/harvnet/harvnet/internal/clock"
)

// One step of a debouncer script, run against a fake clock.
type dstep struct {
	op string        // send, timer, advance, fire, signal, none, cancel
	d  time.Duration // timer: the wait it must arm; advance: how far
}

func send() dstep                   { return dstep{op: "send"} }
func timer(d time.Duration) dstep   { return dstep{op: "timer", d: d} }
func advance(d time.Duration) dstep { return dstep{op: "advance", d: d} }
func fire() dstep                   { return dstep{op: "fire"} }   // the last timer armed
func signal() dstep                 { return dstep{op: "signal"} } // one signal comes out
func none() dstep                   { return dstep{op: "none"} }   // none waits; only right after timer
func cancel() dstep                 { return dstep{op: "cancel"} } // ctx ends: run returns, nothing comes out

// burst is n changes every apart, each arming the wait given for it.
func burst(n int, every time.Duration, waits ...time.Duration) []dstep {
	var s []dstep
	for i := 0; i < n; i++ {
		if i > 0 {
			s = append(s, advance(every))
		}
		s = append(s, send(), timer(waits[i]))
	}
	return s
}

func steps(parts ...any) []dstep {
	var s []dstep
	for _, p := range parts {
		switch p := p.(type) {
		case dstep:
			s = append(s, p)
		case []dstep:
			s = append(s, p...)
		}
	}
	return s
}

func TestDebounce(t *testing.T) {
	const quiet, maxWait = 5 * time.Millisecond, 50 * time.Millisecond
	ms := time.Millisecond
	for _, c := range []struct {
		name  string
		steps []dstep
	}{
		{"one change goes out after the quiet period", steps(
			send(), timer(quiet), none(), fire(), signal(),
		)},
		{"a burst closer than the quiet period is one signal, the quiet period counted from its last change", steps(
			burst(4, 2*ms, quiet, quiet, quiet, quiet), none(),
			fire(), signal(),
			send(), timer(quiet), none(), // exactly one came out for the burst
		)},
		{"a continuous burst still gets out at max wait after its first change", steps(
			// Every 4 ms for 48 ms: the quiet period never passes. At 48 ms
			// only 2 ms are left of the 50 ms max wait.
			burst(13, 4*ms, quiet, quiet, quiet, quiet, quiet, quiet, quiet, quiet, quiet, quiet, quiet, quiet, 2*ms),
			none(), fire(), signal(),
			// The burst goes on: a new max wait starts with the next change.
			advance(2*ms), burst(2, 4*ms, quiet, quiet), none(),
		)},
		{"a change right at max wait fires at once", steps(
			send(), timer(quiet), advance(4*ms),
			burst(12, 4*ms, quiet, quiet, quiet, quiet, quiet, quiet, quiet, quiet, quiet, quiet, quiet, 2*ms),
			advance(2*ms), send(), timer(0), fire(), signal(),
		)},
		{"separate changes are separate signals", steps(
			send(), timer(quiet), fire(), signal(),
			advance(time.Second), send(), timer(quiet), fire(), signal(),
		)},
		{"signals not yet read are one", steps(
			send(), timer(quiet), fire(),
			advance(time.Second), send(), timer(quiet), fire(),
			send(), timer(quiet), // both fires are handled: out holds what they gave
			signal(), none(),
		)},
		{"ctx end drops a pending burst and stops", steps(
			send(), timer(quiet), cancel(),
		)},
	} {
		t.Run(c.name, func(t *testing.T) {
			clk := clock.NewFake(time.Unix(1e9, 0))
			in := make(chan struct{})
			d := newDebouncer(clk, in, quiet, maxWait)
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { d.run(ctx); close(done) }()
			t.Cleanup(func() { stop(); <-done })
			var last *clock.Timer
			for i, s := range c.steps {
				switch s.op {
				case "send":
					select {
					case in <- struct{}{}:
					case <-time.After(clock.Patience):
						t.Fatalf("step %d: the debouncer did not take a change", i)
					}
				case "timer":
					last = clk.NextTimer(t)
					if last.D != s.d {
						t.Fatalf("step %d: armed a %v wait, want %v", i, last.D, s.d)
					}
				case "advance":
					clk.Advance(s.d)
				case "fire":
					last.Fire(t)
				case "signal":
					select {
					case <-d.out:
					case <-time.After(clock.Patience):
						t.Fatalf("step %d: no signal came out", i)
					}
				case "none":
					// After a timer step the debouncer has handled everything
					// before it, so what is in out is all that came out.
					if len(d.out) != 0 {
						t.Fatalf("step %d: a signal came out too early", i)
					}
				case "cancel":
					stop()
					select {
					case <-done:
					case <-time.After(clock.Patience):
						t.Fatalf("step %d: the debouncer did not stop when its ctx ended", i)
					}
					if len(d.out) != 0 {
						t.Fatalf("step %d: a signal came out after ctx ended", i)
					}
				}
			}
			clk.NoTimer(t)
		})
	}
}
