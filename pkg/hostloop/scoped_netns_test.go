package hostloop_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/harvnet/harvnet/pkg/hostloop"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// An event pass reads only the links events named, yet must see VM ports
// that came and went without a pass of their own (their events wake no
// pass): the monitor names them for the next pass, whatever woke it.
func TestEventPassSeesVMPortsChangedSinceTheLastRead(t *testing.T) {
	var last atomic.Pointer[reconcile.Result]
	r := start(t, time.Hour, func(c *hostloop.Config) {
		prev := c.OnResult
		c.OnResult = func(res reconcile.Result) {
			prev(res)
			last.Store(&res)
		}
	})
	// portOf says whether the last event pass saw vm0 on the bridge.
	seen := func(wantPort bool) func() bool {
		return func() bool {
			res := last.Load()
			if res == nil || !res.Scoped || res.Host == nil {
				return false
			}
			b, ok := res.Host.Link(br)
			vm, isThere := res.Host.Link("vm0")
			return ok && (isThere && vm.MasterIndex == b.Index) == wantPort
		}
	}
	wake := func(qlen string) {
		// A change on the bridge that harvnet leaves alone wakes an event pass.
		r.node.IP(t, "link", "set", br, "txqueuelen", qlen)
	}

	r.node.IP(t, "link", "add", "vm0", "type", "veth", "peer", "name", "vm0p")
	r.node.IP(t, "link", "set", "vm0", "master", br, "up")
	wake("999")
	waitFor(t, "an event pass that sees vm0 on the bridge", seen(true))

	r.node.IP(t, "link", "del", "vm0")
	wake("998")
	waitFor(t, "an event pass that no longer sees vm0", seen(false))
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !ok() {
		if time.Now().After(end) {
			t.Fatalf("no %s within %v", what, deadline)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}
