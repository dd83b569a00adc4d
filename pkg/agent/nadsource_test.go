package agent

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/harvnet/harvnet/internal/clock"
	"github.com/harvnet/harvnet/pkg/desired"
)

// The NAD watch starts only once the API server serves NADs; until then
// the node runs without NAD VLANs and says why, asking again every
// interval. Driven by a fake discovery answer and a fake clock.
func TestNADSourceWaitsForTheNADType(t *testing.T) {
	var mu sync.Mutex
	answers := []struct {
		served bool
		err    error
	}{{err: errors.New("connection refused")}, {served: false}, {served: false}, {served: true}}
	var got []string
	started := make(chan struct{})
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := &nadSource{
		served: func() (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			a := answers[0]
			answers = answers[1:]
			return a.served, a.err
		},
		start:    func(context.Context) error { close(started); return nil },
		interval: 10 * time.Second,
		clock:    clk,
	}
	s.in = &inputs{haveObj: true, set: func(i desired.Input) {
		mu.Lock()
		got = append(got, in(i))
		mu.Unlock()
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	inputs := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
	step := func(want ...string) {
		t.Helper()
		tm := clk.NextTimer(t) // the source waits for its next look
		if tm.D != 10*time.Second {
			t.Fatalf("asks again in %v, want 10s", tm.D)
		}
		if g := inputs(); !slices.Equal(g, want) {
			t.Fatalf("inputs %q, want %q", g, want)
		}
		tm.Fire(t)
	}
	step()                                       // discovery failed: nothing decided
	step(`gen=0 type="" nic="" vlans=[] nonads`) // not served: said once
	step(`gen=0 type="" nic="" vlans=[] nonads`) // still not: not said again
	select {                                     // served: the watch starts, and the source is done
	case <-started:
	case <-time.After(clock.Patience):
		t.Fatal("the NAD watch did not start once NADs were served")
	}
	<-done
	clk.NoTimer(t)
}
