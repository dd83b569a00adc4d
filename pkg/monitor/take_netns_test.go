package monitor_test

import (
	"slices"
	"testing"
	"time"

	nt "github.com/harvnet/harvnet/internal/netnstest"
)

// Take names every link an event was about since it was last called,
// whether the filter watches the link or not (an event pass reads those
// again and keeps the rest from its last read), and says "all" until the
// first Take after a subscription, since events before it were not seen.
func TestTakeNamesEveryChangedLink(t *testing.T) {
	n := nt.NewNS(t)
	m := startMonitor(t, n, onlyBridge)
	if _, all := m.Take(); !all {
		t.Fatal("the first Take after subscribing must say all: events before it were not seen")
	}
	if changed, all := m.Take(); all || len(changed) != 0 {
		t.Fatalf("nothing changed, yet Take says changed=%v all=%v", changed, all)
	}

	// A VM port the filter ignores, an address on it and a route via it.
	n.IP(t, "link", "add", "vm0", "type", "veth", "peer", "name", "vm0p")
	vm0, _ := n.Link(t, "vm0")
	vm0p, _ := n.Link(t, "vm0p")
	n.IP(t, "link", "set", "vm0", "up")
	n.IP(t, "addr", "add", "10.7.0.1/24", "dev", "vm0")
	waitTaken(t, m.Take, vm0.Index, vm0p.Index)

	// A route alone names its device; a multipath route each hop's.
	n.IP(t, "link", "add", "other", "type", "veth", "peer", "name", "otherp")
	n.IP(t, "link", "set", "other", "up")
	n.IP(t, "addr", "add", "10.8.0.1/24", "dev", "other")
	other, _ := n.Link(t, "other")
	waitTaken(t, m.Take, other.Index)
	n.IP(t, "route", "add", "203.0.113.0/24", "nexthop", "via", "10.7.0.2", "dev", "vm0", "nexthop", "via", "10.8.0.2", "dev", "other")
	waitTaken(t, m.Take, vm0.Index, other.Index)

	// A deleted link is named too, so a reader drops it.
	n.IP(t, "link", "del", "vm0")
	waitTaken(t, m.Take, vm0.Index, vm0p.Index)
}

// waitTaken takes until every one of want has been named (events arrive
// after ip returns), failing at the deadline. A Take that says "all"
// fails: nothing was lost here.
func waitTaken(t *testing.T, take func() ([]int, bool), want ...int) {
	t.Helper()
	var seen []int
	end := time.Now().Add(deadline)
	for {
		changed, all := take()
		if all {
			t.Fatal("Take said all without a lost event")
		}
		seen = append(seen, changed...)
		if !slices.ContainsFunc(want, func(i int) bool { return !slices.Contains(seen, i) }) {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("Take named %v, not all of %v", seen, want)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}
