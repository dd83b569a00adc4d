package agent

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/client-go/tools/record"

	"github.com/harvnet/harvnet/internal/clock"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
	"github.com/harvnet/harvnet/pkg/status"
)

var opts = desired.Options{BridgeName: "harvester-br0", UplinkTypes: []string{"device"}}

// result is a pass on an empty host for the object's generation gen;
// its status tells generations apart.
func result(gen int64, mutate ...func(*reconcile.Result)) reconcile.Result {
	r := reconcile.Result{Input: desired.Input{Generation: gen}, Host: &hoststate.State{}}
	for _, m := range mutate {
		m(&r)
	}
	return r
}

func torndown(r *reconcile.Result) { r.Desired.Teardown = true }

func hostUnreadable(r *reconcile.Result) {
	r.Err = errors.New("reading the host network: netlink: EBUSY")
}

// withStatus gives the object the status a result builds.
func withStatus(res reconcile.Result) func(*v1alpha1.Node) {
	return func(n *v1alpha1.Node) { n.Status = status.Build(res, opts, res.Input.Generation) }
}

func TestWrite(t *testing.T) {
	for _, c := range []struct {
		name    string
		api     *fakeAPI
		res     reconcile.Result
		want    []string
		wantErr string
		spent   bool // a status write was just sent: the next one is paced
	}{
		{name: "no object: nothing to report on",
			res: result(1), want: []string{"cached"}},
		{name: "the cache cannot be read: an error, retried",
			api: &fakeAPI{cacheErr: unavailable()}, res: result(1),
			want: []string{"cached"}, wantErr: "leader changed"},
		{name: "a changed status is written once",
			api: &fakeAPI{cache: node("5")}, res: result(2),
			want: []string{"cached", "updateStatus gen=2 rv=5"}},
		{name: "a status equal to the object's writes nothing",
			api: &fakeAPI{cache: node("5", withStatus(result(2)))}, res: result(2),
			want: []string{"cached"}},
		{name: "a conflict rereads the live object and writes once more",
			api: &fakeAPI{cache: node("5"), server: node("9"), statusErrs: []error{conflict()}}, res: result(2),
			want: []string{"cached", "updateStatus gen=2 rv=5", "live", "updateStatus gen=2 rv=9"}},
		{name: "a second conflict is an error, not a third try",
			api: &fakeAPI{cache: node("5"), server: node("9"), statusErrs: []error{conflict(), conflict()}}, res: result(2),
			want:    []string{"cached", "updateStatus gen=2 rv=5", "live", "updateStatus gen=2 rv=9"},
			wantErr: "status: Operation cannot be fulfilled"},
		{name: "another failure is not reread",
			api: &fakeAPI{cache: node("5"), statusErrs: []error{unavailable()}}, res: result(2),
			want: []string{"cached", "updateStatus gen=2 rv=5"}, wantErr: "status: etcdserver"},
		{name: "deleted and torn down: the finalizer comes off, other finalizers stay",
			api:  &fakeAPI{cache: node("5", deleting, finalizers("other", v1alpha1.AgentFinalizer), withStatus(result(2, torndown)))},
			res:  result(2, torndown),
			want: []string{"cached", "update finalizers=[other]"}},
		{name: "deleted and torn down with a new status: status first, then the finalizer on the updated object",
			api:  &fakeAPI{cache: node("5", deleting, finalizers(v1alpha1.AgentFinalizer))},
			res:  result(2, torndown),
			want: []string{"cached", "updateStatus gen=2 rv=5", "update finalizers=[]"}},
		{name: "deleted but the teardown failed: the finalizer stays",
			api:  &fakeAPI{cache: node("5", deleting, finalizers(v1alpha1.AgentFinalizer))},
			res:  result(2, torndown, hostUnreadable),
			want: []string{"cached", "updateStatus gen=2 rv=5"}},
		{name: "deleted, but the pass was not a teardown (it ran before the deletion was seen): the finalizer stays",
			api:  &fakeAPI{cache: node("5", deleting, finalizers(v1alpha1.AgentFinalizer), withStatus(result(2)))},
			res:  result(2),
			want: []string{"cached"}},
		{name: "torn down for an empty spec, not deleted: the finalizer stays",
			api:  &fakeAPI{cache: node("5", finalizers(v1alpha1.AgentFinalizer), withStatus(result(2, torndown)))},
			res:  result(2, torndown),
			want: []string{"cached"}},
		{name: "deleted without the agent's finalizer: nothing to remove",
			api:  &fakeAPI{cache: node("5", deleting, finalizers("other"), withStatus(result(2, torndown)))},
			res:  result(2, torndown),
			want: []string{"cached"}},
		{name: "the object went while removing the finalizer: done",
			api:  &fakeAPI{cache: node("5", deleting, finalizers(v1alpha1.AgentFinalizer), withStatus(result(2, torndown))), updateErrs: []error{notFound()}},
			res:  result(2, torndown),
			want: []string{"cached", "update finalizers=[]"}},
		{name: "removing the finalizer fails: an error, retried",
			api:  &fakeAPI{cache: node("5", deleting, finalizers(v1alpha1.AgentFinalizer), withStatus(result(2, torndown))), updateErrs: []error{conflict()}},
			res:  result(2, torndown),
			want: []string{"cached", "update finalizers=[]"}, wantErr: "removing finalizer"},
		{name: "deleted and torn down while status writes are paced: the finalizer comes off now, the status waits its turn",
			api:   &fakeAPI{cache: node("5", deleting, finalizers(v1alpha1.AgentFinalizer))},
			res:   result(2, torndown),
			spent: true,
			want:  []string{"cached", "update finalizers=[]"}, wantErr: "paced"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.api == nil {
				c.api = &fakeAPI{}
			}
			clk := clock.NewFake(time.Unix(0, 0))
			w := newWriter(nodeName, opts, c.api, record.NewFakeRecorder(10), clk)
			if c.spent {
				w.pace.sent(clk.Now())
			}
			err := w.write(c.res)
			if got := c.api.calls(); !slices.Equal(got, c.want) {
				t.Errorf("calls\n  %q\nwant\n  %q", got, c.want)
			}
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)):
				t.Errorf("error %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

// The status written is the one Build gives, with transition times set.
func TestWriteStatusContent(t *testing.T) {
	api := &fakeAPI{cache: node("5")}
	w := newWriter(nodeName, opts, api, record.NewFakeRecorder(10), nil)
	res := result(3, hostUnreadable)
	if err := w.write(res); err != nil {
		t.Fatal(err)
	}
	want := status.Build(res, opts, 3)
	if !status.Equal(&api.server.Status, &want) {
		t.Fatalf("wrote %+v, want %+v", api.server.Status, want)
	}
	for _, c := range api.server.Status.Conditions {
		if c.LastTransitionTime.IsZero() {
			t.Errorf("condition %s has no transition time", c.Type)
		}
	}
}

// runWriter starts the writer's goroutine over api with a fake clock.
func runWriter(t *testing.T, w *writer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitCall waits for the writer to make the call want.
func waitCall(t *testing.T, api *fakeAPI, want string) {
	t.Helper()
	deadline := time.After(clock.Patience)
	for {
		select {
		case got := <-api.called:
			if got == want {
				return
			}
			if strings.HasPrefix(got, "update") {
				t.Fatalf("writer called %q while waiting for %q", got, want)
			}
		case <-deadline:
			t.Fatalf("the writer did not call %q", want)
		}
	}
}

// taken waits until the writer took the pushed result off its channel.
func taken(t *testing.T, w *writer) {
	t.Helper()
	end := time.Now().Add(clock.Patience)
	for len(w.latest) > 0 {
		if time.Now().After(end) {
			t.Fatal("the writer did not take the pushed result")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWriterWritesOnlyTheNewestResult(t *testing.T) {
	api := &fakeAPI{cache: node("5"), called: make(chan string, 100)}
	clk := clock.NewFake(time.Unix(0, 0))
	w := newWriter(nodeName, opts, api, record.NewFakeRecorder(100), clk)
	// Results that come faster than the writer writes replace each other.
	w.push(result(1))
	w.push(result(2))
	w.push(result(3))
	runWriter(t, w)
	waitCall(t, api, "updateStatus gen=3 rv=5")

	// A write in flight: results meanwhile replace each other too.
	api.mu.Lock()
	api.hold = make(chan struct{})
	api.mu.Unlock()
	clk.Advance(statusWriteInterval) // not paced: this test is about replacing
	w.push(result(4))
	waitCall(t, api, "updateStatus gen=4 rv=5")
	clk.Advance(statusWriteInterval)
	w.push(result(5))
	w.push(result(6))
	api.mu.Lock()
	close(api.hold)
	api.hold = nil
	api.mu.Unlock()
	waitCall(t, api, "updateStatus gen=6 rv=5")
	want := []string{"cached", "updateStatus gen=3 rv=5", "cached", "updateStatus gen=4 rv=5", "cached", "updateStatus gen=6 rv=5"}
	if got := api.calls(); !slices.Equal(got, want) {
		t.Fatalf("calls\n  %q\nwant\n  %q", got, want)
	}
}

// A failed write is retried with a doubling backoff; a failed write
// counts for the pacing, so a retry sooner than statusWriteInterval after
// it waits out the rest (a second, paced timer).
func TestWriterBacksOffAndRetriesTheNewest(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	fail := slices.Repeat([]error{unavailable()}, 7)
	api := &fakeAPI{cache: node("5"), statusErrs: fail, called: make(chan string, 100)}
	w := newWriter(nodeName, opts, api, record.NewFakeRecorder(100), clk)
	runWriter(t, w)
	w.push(result(1))
	waitCall(t, api, "updateStatus gen=1 rv=5")
	const ms = time.Millisecond
	for i, timers := range [][]time.Duration{{200 * ms, 300 * ms}, {400 * ms, 100 * ms}, {800 * ms}, {1600 * ms}, {3200 * ms}, {5000 * ms}} {
		for j, d := range timers {
			tm := clk.NextTimer(t)
			if tm.D != d {
				t.Fatalf("retry %d, timer %d after %v, want %v", i+1, j+1, tm.D, d)
			}
			tm.Fire(t)
		}
		waitCall(t, api, "updateStatus gen=1 rv=5")
	}
	tm := clk.NextTimer(t)
	if tm.D != 5*time.Second {
		t.Fatalf("retry 7 after %v, want 5s", tm.D)
	}
	// A newer result while backing off waits for the retry, and replaces
	// the failed one.
	w.push(result(2))
	taken(t, w)
	tm.Fire(t)
	waitCall(t, api, "updateStatus gen=2 rv=5")
	api.mu.Lock()
	n := len(api.log)
	api.mu.Unlock()
	// A paced retry reads the cache and sends nothing.
	if n != 2*8+2 {
		t.Fatalf("%d calls, want 8 writes and 2 paced retries (one cache read each): %q", n, api.calls())
	}
	// That write succeeded: the next failure starts at 200ms again.
	api.mu.Lock()
	api.statusErrs = []error{unavailable()}
	api.mu.Unlock()
	clk.Advance(time.Second) // a quiet spell: the next write goes at once
	w.push(result(3))
	waitCall(t, api, "updateStatus gen=3 rv=5")
	if tm := clk.NextTimer(t); tm.D != 200*time.Millisecond {
		t.Fatalf("after a success, retry after %v, want 200ms", tm.D)
	}
}

// Each step hands events() a result; want is the events it records.
func TestEventsWarnOncePerProblem(t *testing.T) {
	invalid := func(msg string) func(*reconcile.Result) {
		return func(r *reconcile.Result) {
			r.Invalid = &desired.InvalidError{Reason: desired.ReasonInvalidSpec, Message: msg}
		}
	}
	applied := func(r *reconcile.Result) {
		r.Applied = []plan.Action{{Op: plan.SetUp, Link: "harvester-br0"}}
	}
	warnBadNIC := "Warning " + desired.ReasonInvalidSpec + " NIC eth9 not found; the host was left as it is"
	warnNoBond := "Warning " + desired.ReasonInvalidSpec + " NIC bond0 not found; the host was left as it is"
	warnUnreadable := "Warning " + status.ReasonHostUnreadable + " reading the host network: netlink: EBUSY"
	steps := []struct {
		res  reconcile.Result
		want []string
	}{
		{result(1, invalid("NIC eth9 not found")), []string{warnBadNIC}},
		{result(1, invalid("NIC eth9 not found")), nil}, // persists: no new event
		{result(1, invalid("NIC eth9 not found")), nil},
		{result(2, invalid("NIC bond0 not found")), []string{warnNoBond}}, // a different problem
		{result(3, hostUnreadable), []string{warnUnreadable}},
		{result(3), nil}, // fixed
		{result(3, hostUnreadable), []string{warnUnreadable}}, // back again
		{result(3, hostUnreadable, applied), []string{"Normal Applied " + plan.Action{Op: plan.SetUp, Link: "harvester-br0"}.String()}},
		{result(3, applied), []string{"Normal Applied " + plan.Action{Op: plan.SetUp, Link: "harvester-br0"}.String()}},
	}
	rec := record.NewFakeRecorder(100)
	w := newWriter(nodeName, opts, &fakeAPI{}, rec, nil)
	for i, s := range steps {
		w.events(s.res)
		got := recorded(rec)
		if !slices.Equal(got, s.want) {
			t.Errorf("step %d: events %q, want %q", i, got, s.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefg..."},
		// "é" is 2 bytes, "€" 3 and "🙂" 4: a cut in the middle backs up to
		// the rune's start.
		{"aaaaaaé123", 10, "aaaaaa..."},    // the cut at 7 is mid-é: back to its start
		{"aaaaaaaé1234", 10, "aaaaaaa..."}, // the cut at 7 is é's start
		{"aaaaaa€€€€", 10, "aaaaaa..."},    // one byte into €
		{"aaaaa€€", 10, "aaaaa..."},        // two bytes into €
		{"aaaaa🙂🙂🙂", 10, "aaaaa..."},
		{"aaaa🙂🙂🙂", 10, "aaaa..."}, // three bytes into 🙂
		{"🙂🙂🙂🙂", 5, "..."},
		{"abcdef", 3, "..."},
		{"abcdef", 2, ".."},
		{"abcdef", 0, ""},
		{"abcdef", -1, ""},
		// Not UTF-8: it backs up no further than a rune could be long.
		{"aaaaaa\xff\xff\xff\xff\xff", 10, "aaaaaa\xff..."},
		{strings.Repeat("\x80", 12), 10, "\x80\x80\x80..."},
	} {
		got := truncate(c.s, c.n)
		if got != c.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
		if len(got) > max(c.n, 0) {
			t.Errorf("truncate(%q, %d) = %q: %d bytes, over the limit", c.s, c.n, got, len(got))
		}
		if utf8.ValidString(c.s) && !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q: cut a character in half", c.s, c.n, got)
		}
	}
}

// A rollback is one Warning Event naming the probe, not one per pass
// while the last good input is held.
func TestEventsWarnOncePerRollback(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	rolledBack := func(r *reconcile.Result) {
		r.RolledBack = &checkpoint.RolledBack{Generation: 2, Probe: "gateway 10.11.0.1 (arp)", Step: v1alpha1.ConditionUplinkReady, Time: at}
	}
	rec := record.NewFakeRecorder(100)
	w := newWriter(nodeName, opts, &fakeAPI{}, rec, nil)
	w.events(result(2, rolledBack))
	got := recorded(rec)
	if len(got) != 1 || !strings.HasPrefix(got[0], "Warning "+status.ReasonRolledBack+" ") || !strings.Contains(got[0], "gateway 10.11.0.1 (arp)") {
		t.Fatalf("events %q, want one Warning RolledBack naming the probe", got)
	}
	w.events(result(2, rolledBack))
	if got := recorded(rec); len(got) != 0 {
		t.Errorf("a held rollback warned again: %q", got)
	}
}
