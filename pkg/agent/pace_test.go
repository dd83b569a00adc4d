package agent

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/record"

	"github.com/harvnet/harvnet/internal/clock"
)

func TestPacerWait(t *testing.T) {
	const ms = time.Millisecond
	t0 := time.Unix(100, 0)
	for _, c := range []struct {
		name string
		sent []time.Duration // writes sent, as offsets from t0
		at   time.Duration
		want time.Duration
	}{
		{"nothing sent yet: now", nil, 0, 0},
		{"just sent: a whole interval", []time.Duration{0}, 0, 500 * ms},
		{"within the interval: the rest of it", []time.Duration{0}, 120 * ms, 380 * ms},
		{"at the interval's end: now", []time.Duration{0}, 500 * ms, 0},
		{"after a quiet spell: now", []time.Duration{0}, 7 * time.Second, 0},
		{"the last write counts, not the first", []time.Duration{0, 600 * ms}, 700 * ms, 400 * ms},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := pacer{every: statusWriteInterval}
			for _, s := range c.sent {
				p.sent(t0.Add(s))
			}
			if got := p.wait(t0.Add(c.at)); got != c.want {
				t.Fatalf("wait %v, want %v", got, c.want)
			}
		})
	}
}

// paceWrite is a status write the scenario saw: when, and which result.
type paceWrite struct {
	at  time.Duration
	gen int64
}

func (w paceWrite) String() string { return fmt.Sprintf("gen %d at %v", w.gen, w.at) }

// A result pushed at an offset from the start. as, when set, is the
// generation whose result it repeats (a flap back to what was written).
type pacePush struct {
	at  time.Duration
	gen int64
	as  int64
}

// TestWriterPacesStatusWrites runs the writer's goroutine on a fake clock
// through timelines of results and checks which statuses reach the API
// server and when: at most one write per statusWriteInterval, the first
// change after a quiet spell at once, the newest one at the interval's
// end, and none when nothing changed. A token bucket with a burst (the
// pacing before) writes the first changes of a flurry back to back and
// fails these.
func TestWriterPacesStatusWrites(t *testing.T) {
	const ms = time.Millisecond
	every200 := func(n int) []pacePush {
		var p []pacePush
		for i := 0; i < n; i++ {
			p = append(p, pacePush{at: time.Duration(i) * 200 * ms, gen: int64(i + 1)})
		}
		return p
	}
	for _, c := range []struct {
		name   string
		pushes []pacePush
		want   []paceWrite
	}{
		{"5 changes within 100 ms after a quiet spell: one now, the newest at +500 ms",
			[]pacePush{{0, 1, 0}, {25 * ms, 2, 0}, {50 * ms, 3, 0}, {75 * ms, 4, 0}, {100 * ms, 5, 0}},
			[]paceWrite{{0, 1}, {500 * ms, 5}}},
		{"a change after a quiet spell is written at once",
			[]pacePush{{0, 1, 0}, {600 * ms, 2, 0}, {3 * time.Second, 3, 0}},
			[]paceWrite{{0, 1}, {600 * ms, 2}, {3 * time.Second, 3}}},
		{"a change at the interval's end is written at once",
			[]pacePush{{0, 1, 0}, {500 * ms, 2, 0}},
			[]paceWrite{{0, 1}, {500 * ms, 2}}},
		{"a flap every 200 ms for 2 s: one write per 500 ms, each the newest",
			every200(10),
			[]paceWrite{{0, 1}, {500 * ms, 3}, {1000 * ms, 5}, {1500 * ms, 8}, {2000 * ms, 10}}},
		{"a change that flaps back within the interval: no write at its end",
			[]pacePush{{0, 1, 0}, {100 * ms, 2, 0}, {200 * ms, 3, 1}},
			[]paceWrite{{0, 1}}},
		{"a paced change is written even when nothing follows it",
			[]pacePush{{0, 1, 0}, {499 * ms, 2, 0}},
			[]paceWrite{{0, 1}, {500 * ms, 2}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := runPaceScenario(t, c.pushes, c.want)
			if !slices.Equal(got, c.want) {
				t.Fatalf("writes %v, want %v", got, c.want)
			}
			for i := 1; i < len(got); i++ {
				if d := got[i].at - got[i-1].at; d < statusWriteInterval {
					t.Fatalf("writes %v and %v only %v apart", got[i-1], got[i], d)
				}
			}
		})
	}
}

// runPaceScenario pushes the results at their times and returns the writes
// seen. want tells it whether to wait for a write or for a timer at each
// step (the fake clock moves only when told); a writer that does the
// other fails on the wait.
func runPaceScenario(t *testing.T, pushes []pacePush, want []paceWrite) []paceWrite {
	t.Helper()
	start := time.Unix(1000, 0)
	clk := clock.NewFake(start)
	api := &fakeAPI{cache: node("5"), cacheFollows: true, called: make(chan string, 100)}
	w := newWriter(nodeName, opts, api, record.NewFakeRecorder(1000), clk)
	runWriter(t, w)
	now := func() time.Duration { return clk.Now().Sub(start) }
	var got []paceWrite
	// wantWriteAt: the next write the scenario wants is due at.
	wantWriteAt := func(at time.Duration) bool {
		return len(got) < len(want) && want[len(got)].at == at
	}
	// settle waits for the writer to finish the write() that began now:
	// a status write when one is due, else only the cache read.
	settle := func() {
		if wantWriteAt(now()) {
			got = append(got, paceWrite{now(), nextWrite(t, api)})
		} else {
			waitCall(t, api, "cached")
		}
	}
	var armed *clock.Timer
	fireDue := func(until time.Duration) {
		if armed != nil && armed.At.Sub(start) <= until {
			armed.Fire(t)
			armed = nil
			settle()
		}
	}
	for _, p := range pushes {
		fireDue(p.at)
		clk.Advance(p.at - now())
		r := result(p.gen)
		if p.as != 0 {
			r = result(p.as)
		}
		w.push(r)
		if armed != nil {
			taken(t, w) // waiting for the timer: the newest replaces the pending one
			continue
		}
		if wantWriteAt(now()) {
			settle()
			continue
		}
		armed = clk.NextTimer(t) // paced (or, for an unchanged status, this fails)
	}
	if armed != nil {
		fireDue(armed.At.Sub(start))
	}
	// A last change after a quiet spell: any write left over from the
	// scenario would come before it, and fail the wait.
	clk.Advance(time.Minute)
	w.push(result(999))
	if g := nextWrite(t, api); g != 999 {
		t.Fatalf("a write of gen %d after the scenario, want the final gen 999", g)
	}
	clk.NoTimer(t)
	return got
}

// nextWrite waits for the writer's next status write and returns its
// generation.
func nextWrite(t *testing.T, api *fakeAPI) int64 {
	t.Helper()
	deadline := time.After(clock.Patience)
	for {
		select {
		case c := <-api.called:
			if !strings.HasPrefix(c, "updateStatus ") {
				continue
			}
			var gen int64
			var rv string
			if _, err := fmt.Sscanf(c, "updateStatus gen=%d rv=%s", &gen, &rv); err != nil {
				t.Fatalf("cannot parse %q: %v", c, err)
			}
			return gen
		case <-deadline:
			t.Fatal("the writer made no status write")
			return 0
		}
	}
}
