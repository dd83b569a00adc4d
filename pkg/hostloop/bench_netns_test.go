package hostloop_test

import (
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// BenchmarkDriftRepair is the time from an operator deleting the bridge to
// the agent reporting it whole again: netlink event, debounce, observe,
// plan, apply and verify. The target is tens of milliseconds.
func BenchmarkDriftRepair(b *testing.B) {
	r := start(b, time.Hour)
	nl, err := netlink.NewHandleAt(netns.NsHandle(r.node.Fd()))
	if err != nil {
		b.Fatal(err)
	}
	defer nl.Close()
	// The pass that made the node whole reports after the kernel is, and
	// start returns as soon as the kernel is: without waiting for that
	// report here, it can land after the drain below and be taken for
	// the first repair while the bridge is still gone.
	select {
	case <-r.repaired:
	case <-time.After(deadline):
		b.Fatal("the pass that enslaved eth0 never reported")
	}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		drain(r.repaired)
		bridge, err := nl.LinkByName(br)
		if err != nil {
			b.Fatal(err)
		}
		deleted := time.Now()
		if err := nl.LinkDel(bridge); err != nil {
			b.Fatal(err)
		}
		select {
		case done := <-r.repaired:
			total += done.Sub(deleted)
		case <-time.After(deadline):
			b.Fatal("bridge was not repaired")
		}
		if !r.converged(b) {
			b.Fatal("the agent reported a repair but the node is not whole")
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/repair")
}

func drain(c chan time.Time) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}
