package clock

import (
	"sync"
	"testing"
	"time"
)

// Patience bounds how long the fake's helpers wait for the code under test
// to arm a timer or take a tick. It is a failure deadline for a loaded
// machine, never a pause: everything the fake hands over is taken at once.
const Patience = 10 * time.Second

// Fake is a clock that moves only when a test says so. Every timer and
// ticker it hands out is recorded in order, so a test can check how long
// the code chose to wait and then fire it. Its channels are unbuffered:
// once Fire or Tick returns, the code under test has taken the time.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*Timer      // armed, not yet taken by NextTimer
	tickers []*FakeTicker // made, not yet taken by Ticker
	added   chan struct{} // closed (and replaced) when either grows
}

// NewFake returns a fake clock reading now.
func NewFake(now time.Time) *Fake {
	return &Fake{now: now, added: make(chan struct{})}
}

var _ Clock = (*Fake)(nil)

// Timer is one After call.
type Timer struct {
	D  time.Duration // what the code asked for
	At time.Time     // when it is due: the fake's time when armed, plus D
	f  *Fake
	c  chan time.Time
}

// FakeTicker is one NewTicker call.
type FakeTicker struct {
	D       time.Duration
	f       *Fake
	c       chan time.Time
	mu      sync.Mutex
	stopped bool
}

func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward; it fires nothing by itself.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &Timer{D: d, At: f.now.Add(d), f: f, c: make(chan time.Time)}
	f.timers = append(f.timers, t)
	f.notify()
	return t.c
}

func (f *Fake) NewTicker(d time.Duration) Ticker {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &FakeTicker{D: d, f: f, c: make(chan time.Time)}
	f.tickers = append(f.tickers, t)
	f.notify()
	return t
}

func (f *Fake) notify() {
	close(f.added)
	f.added = make(chan struct{})
}

// NextTimer returns the oldest timer armed since the last call, waiting
// for one if there is none yet.
func (f *Fake) NextTimer(t testing.TB) *Timer {
	t.Helper()
	end := time.After(Patience)
	for {
		f.mu.Lock()
		if len(f.timers) > 0 {
			tm := f.timers[0]
			f.timers = f.timers[1:]
			f.mu.Unlock()
			return tm
		}
		added := f.added
		f.mu.Unlock()
		select {
		case <-added:
		case <-end:
			t.Fatalf("no timer was armed within %v", Patience)
			return nil
		}
	}
}

// NoTimer fails the test if a timer was armed since the last NextTimer.
// Call it once the code under test is known to be idle.
func (f *Fake) NoTimer(t testing.TB) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tm := range f.timers {
		t.Errorf("unexpected timer armed for %v", tm.D)
	}
}

// Ticker returns the oldest ticker made since the last call, waiting for
// one if there is none yet.
func (f *Fake) Ticker(t testing.TB) *FakeTicker {
	t.Helper()
	end := time.After(Patience)
	for {
		f.mu.Lock()
		if len(f.tickers) > 0 {
			tk := f.tickers[0]
			f.tickers = f.tickers[1:]
			f.mu.Unlock()
			return tk
		}
		added := f.added
		f.mu.Unlock()
		select {
		case <-added:
		case <-end:
			t.Fatalf("no ticker was made within %v", Patience)
			return nil
		}
	}
}

// Fire moves the clock to the timer's due time, unless it is already past
// it, and hands that time to whoever waits on the timer. It fails the test
// if nobody takes it: the code no longer waits on this timer.
func (tm *Timer) Fire(t testing.TB) {
	t.Helper()
	tm.f.mu.Lock()
	if tm.f.now.Before(tm.At) {
		tm.f.now = tm.At
	}
	now := tm.f.now
	tm.f.mu.Unlock()
	select {
	case tm.c <- now:
	case <-time.After(Patience):
		t.Fatalf("nothing took the timer armed for %v", tm.D)
	}
}

func (tk *FakeTicker) C() <-chan time.Time { return tk.c }

func (tk *FakeTicker) Stop() {
	tk.mu.Lock()
	tk.stopped = true
	tk.mu.Unlock()
}

// Tick moves the clock one period on and hands the time to whoever reads
// the ticker, failing the test if it was stopped or nobody takes it.
func (tk *FakeTicker) Tick(t testing.TB) {
	t.Helper()
	tk.mu.Lock()
	stopped := tk.stopped
	tk.mu.Unlock()
	if stopped {
		t.Fatalf("tick on a stopped ticker")
	}
	tk.f.Advance(tk.D)
	select {
	case tk.c <- tk.f.Now():
	case <-time.After(Patience):
		t.Fatalf("nothing read the %v ticker", tk.D)
	}
}
