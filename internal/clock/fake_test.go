package clock

import (
	"testing"
	"time"
)

func TestFakeTimersAndTickers(t *testing.T) {
	start := time.Unix(1_000, 0)
	f := NewFake(start)
	c := f.After(3 * time.Second)
	f.Advance(time.Second)
	c2 := f.After(time.Second) // due at start+2s
	got := make(chan time.Time)
	go func() { got <- <-c2; got <- <-c }()

	if tm := f.NextTimer(t); tm.D != 3*time.Second || !tm.At.Equal(start.Add(3*time.Second)) {
		t.Fatalf("first timer %v due %v, want 3s due %v", tm.D, tm.At, start.Add(3*time.Second))
	} else {
		second := f.NextTimer(t)
		second.Fire(t) // moves the clock to its due time
		if at := <-got; !at.Equal(start.Add(2*time.Second)) || !f.Now().Equal(at) {
			t.Fatalf("fired at %v, clock %v, want both %v", at, f.Now(), start.Add(2*time.Second))
		}
		f.Advance(time.Hour) // past the first's due time: firing it keeps the clock
		tm.Fire(t)
		if at := <-got; !at.Equal(start.Add(2*time.Second + time.Hour)) {
			t.Fatalf("late timer fired at %v, want the clock's %v", at, start.Add(2*time.Second+time.Hour))
		}
	}
	f.NoTimer(t)

	tk := f.NewTicker(time.Minute)
	go func() { got <- <-tk.C() }()
	ft := f.Ticker(t)
	before := f.Now()
	ft.Tick(t)
	if at := <-got; !at.Equal(before.Add(time.Minute)) {
		t.Fatalf("tick at %v, want a period on, %v", at, before.Add(time.Minute))
	}
}
