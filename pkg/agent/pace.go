package agent

import "time"

// statusWriteInterval is the least time between two status writes of one
// node: a hard cap of 2 writes a second that an operator (and the API
// server's capacity planning) can rely on, whatever the host does. A link
// that flaps several times a second (a bad cable, a VM storm) then costs
// one write per interval instead of one per flap, and `kubectl get` is at
// most this late with the newest state: half a second is below what a
// person watching notices, and 2 writes a second for each of 1000 nodes is
// a load a stock API server takes.
const statusWriteInterval = 500 * time.Millisecond

// pacer spaces status writes at least every apart. It is a cap, not a
// token bucket: there is no burst to spend, so no stretch of time of
// length T holds more than T/every + 1 writes. A change after a quiet
// spell goes at once (the leading edge); one during the interval waits for
// its end (the trailing edge), when the writer sends the newest status.
type pacer struct {
	every time.Duration
	last  time.Time // when the last write was sent
	wrote bool      // a write was sent at all
}

// wait is how long from now until a write may be sent; 0 is now.
func (p *pacer) wait(now time.Time) time.Duration {
	if !p.wrote {
		return 0
	}
	return max(p.last.Add(p.every).Sub(now), 0)
}

// sent records a write sent to the API server at now, whether or not it
// succeeded: a failed request costs the server too.
func (p *pacer) sent(now time.Time) {
	p.last, p.wrote = now, true
}
