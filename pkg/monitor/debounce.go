package monitor

import (
	"context"
	"time"

	"github.com/harvnet/harvnet/internal/clock"
)

// Debounce forwards a burst of signals from in as one signal on the
// returned channel: after quiet has passed without a new one, or at the
// latest maxWait after the first, so a steady stream still gets through.
func Debounce(ctx context.Context, in <-chan struct{}, quiet, maxWait time.Duration) <-chan struct{} {
	d := newDebouncer(clock.Real{}, in, quiet, maxWait)
	go d.run(ctx)
	return d.out
}

// debouncer is Debounce's state; its clock is a fake in tests.
type debouncer struct {
	clk            clock.Clock
	in             <-chan struct{}
	out            chan struct{}
	quiet, maxWait time.Duration
}

func newDebouncer(clk clock.Clock, in <-chan struct{}, quiet, maxWait time.Duration) *debouncer {
	return &debouncer{clk: clk, in: in, out: make(chan struct{}, 1), quiet: quiet, maxWait: maxWait}
}

// run debounces until ctx ends; a burst still pending then is dropped.
func (d *debouncer) run(ctx context.Context) {
	var timer <-chan time.Time
	var deadline time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.in:
			now := d.clk.Now()
			if timer == nil {
				deadline = now.Add(d.maxWait)
			}
			timer = d.clk.After(min(d.quiet, deadline.Sub(now)))
		case <-timer:
			timer = nil
			select {
			case d.out <- struct{}{}:
			default: // one is pending already; it covers this burst too
			}
		}
	}
}
