package agent

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/tools/record"

	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// A diagnostic is one Warning Event when it appears, none while it stays
// open or while the host cannot be read, and a new one when it comes back.
func TestEventsOncePerDiagnostic(t *testing.T) {
	forwardingOff := func(r *reconcile.Result) {
		r.Host = &hoststate.State{
			Links:  []hoststate.Link{{Name: opts.BridgeName, Index: 2, Type: "bridge"}},
			Doctor: &hoststate.Doctor{Sysctls: map[string]string{hoststate.SysctlIPForward: "0"}},
		}
	}
	unreadable := func(r *reconcile.Result) { r.Host = nil; hostUnreadable(r) }
	warn := "Warning DiagnosticIPForward net.ipv4.ip_forward is 0"
	steps := []struct {
		res  reconcile.Result
		want []string // prefixes of the events recorded
	}{
		{result(1, forwardingOff), []string{warn}},
		{result(1, forwardingOff), nil},
		{result(1, unreadable), []string{"Warning HostUnreadable"}},
		{result(1, forwardingOff), nil}, // still open: not again
		{result(1), nil},                // fixed
		{result(1, forwardingOff), []string{warn}},
	}
	rec := record.NewFakeRecorder(100)
	w := newWriter(nodeName, opts, &fakeAPI{}, rec, nil)
	for i, s := range steps {
		w.events(s.res)
		got := recorded(rec)
		if !slices.EqualFunc(got, s.want, strings.HasPrefix) {
			t.Errorf("step %d: events %q, want ones starting %q", i, got, s.want)
		}
	}
}
