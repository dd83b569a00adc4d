package monitor

import (
	"context"
	"time"
)

// Debounce forwards a burst of signals from in as one signal on the
// returned channel: after quiet has passed without a new one, or at the
// latest maxWait after the first, so a steady stream still gets through.
func Debounce(ctx context.Context, in <-chan struct{}, quiet, maxWait time.Duration) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		var timer <-chan time.Time
		var deadline time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case <-in:
				now := time.Now()
				if timer == nil {
					deadline = now.Add(maxWait)
				}
				wait := quiet
				if left := deadline.Sub(now); left < wait {
					wait = left
				}
				timer = time.After(wait)
			case <-timer:
				timer = nil
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}
