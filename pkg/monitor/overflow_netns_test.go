package monitor_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/metrics"
	"github.com/harvnet/harvnet/pkg/monitor"
)

// Fault family 4: netlink overflow. The monitor's sockets get the smallest
// receive buffer the kernel allows (forced, so rmem_max does not decide),
// and each trial floods link events with one `ip -batch`: links made,
// renamed, flapped and deleted. The kernel drops the subscription with
// ENOBUFS; the monitor must subscribe again, list the links again (its
// table equals the kernel's, no stale or missing entry) and signal, and
// after 100 resubscribes no goroutine of a dead subscription may be left
// blocked on its channel.
func TestFamily4NetlinkOverflow(t *testing.T) {
	n := nt.NewNS(t)
	h, err := netlink.NewHandleAt(netns.NsHandle(n.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	met := metrics.NewAgent(prometheus.NewRegistry())
	// 1 byte: the kernel rounds it up to its minimum, a couple of messages.
	m := monitor.New(netns.NsHandle(n.Fd()), func(name, kind string) bool { return true }).WithMetrics(met).WithReceiveBuffer(1)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { m.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	waitSignal(t, m)
	kernelLinks := func() map[int]string {
		ls, err := h.LinkList()
		if err != nil {
			t.Fatalf("listing links: %v", err)
		}
		out := map[int]string{}
		for _, l := range ls {
			out[l.Attrs().Index] = l.Attrs().Name
		}
		return out
	}
	nt.Eventually(t, deadline, nt.Check("the monitor's first listing differs from the kernel", func() bool {
		return maps.Equal(m.KnownLinks(), kernelLinks())
	}))
	baseline := runtime.NumGoroutine()
	resubs := func() int { return int(testutil.ToFloat64(met.Resubscribes)) }

	const want = 100
	trials, failures := 0, 0
	var worst time.Duration
	var fails []string
	for resubs() < want && trials < 10*want {
		select {
		case <-m.Changes(): // a signal from before the flood does not count
		default:
		}
		flood(t, n, trials)
		end := time.Now()
		trials++
		// Consistent again: the table equals the kernel's and a signal
		// after the flood tells the loop to look again. (Not every flood
		// overflows the buffer; most do, some more than once.)
		ok := false
		for limit := end.Add(deadline); time.Now().Before(limit); time.Sleep(time.Millisecond) {
			if maps.Equal(m.KnownLinks(), kernelLinks()) {
				ok = true
				break
			}
		}
		gap := time.Since(end)
		worst = max(worst, gap)
		if !ok {
			failures++
			fails = append(fails, fmt.Sprintf("trial %d: after %d resubscribes the monitor knows links %v, the kernel has %v", trials, resubs(), m.KnownLinks(), kernelLinks()))
			continue
		}
		select {
		case <-m.Changes():
		case <-time.After(deadline):
			failures++
			fails = append(fails, fmt.Sprintf("trial %d: no signal after resubscribing", trials))
		}
	}
	if resubs() < want {
		failures++
		fails = append(fails, fmt.Sprintf("only %d resubscribes in %d floods: the kernel did not drop the subscription", resubs(), trials))
	}
	// Every dead subscription's goroutines end: the count comes back to
	// what one live subscription needs.
	var now int
	leakCheck := time.Now().Add(deadline)
	for now = runtime.NumGoroutine(); now > baseline && time.Now().Before(leakCheck); now = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	if now > baseline {
		failures++
		buf := make([]byte, 1<<20)
		fails = append(fails, fmt.Sprintf("%d goroutines after %d resubscribes, %d before:\n%s", now, resubs(), baseline, buf[:runtime.Stack(buf, true)]))
	}
	t.Logf("family 4: trials=%d failures=%d worst-gap=%v (resubscribes=%d, goroutines %d before, %d after)", trials, failures, worst.Round(time.Millisecond), resubs(), baseline, now)
	fmt.Printf("family 4: trials=%d failures=%d worst-gap=%v\n", trials, failures, worst.Round(time.Millisecond))
	for _, f := range fails {
		t.Error(f)
	}
}

func waitSignal(t *testing.T, m *monitor.Monitor) {
	t.Helper()
	select {
	case <-m.Changes():
	case <-time.After(deadline):
		t.Fatal("monitor never subscribed")
	}
}

// flood makes a burst of link events in one ip process: a new veth pair,
// flapped, its MTU changed, renamed, and the previous trial's pair deleted,
// so the link table the monitor must end with changes every trial.
func flood(t *testing.T, n *nt.NS, trial int) {
	t.Helper()
	var b strings.Builder
	a, p := fmt.Sprintf("fa%d", trial), fmt.Sprintf("fp%d", trial)
	fmt.Fprintf(&b, "link add %s type veth peer name %s\n", a, p)
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, "link set %s up\nlink set %s mtu %d\nlink set %s down\n", a, a, 1300+i, a)
	}
	fmt.Fprintf(&b, "link set %s name r%s\n", a, a)
	if trial > 0 {
		fmt.Fprintf(&b, "link del rfa%d\n", trial-1)
	}
	f := filepath.Join(t.TempDir(), "batch")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	n.IP(t, "-batch", f)
}
