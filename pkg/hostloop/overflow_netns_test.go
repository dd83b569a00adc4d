package hostloop_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostloop"
	"github.com/harvnet/harvnet/pkg/hostnet"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/metrics"
	"github.com/harvnet/harvnet/pkg/monitor"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// Fault family 4 at the agent's level: its loop, watching through netlink
// subscriptions with the smallest receive buffer (forced), gets floods of
// events on its bridge that end in drift: the bridge set down and the
// node's address taken off it. Netlink drops the subscriptions; the loop
// must still repair every time (only events drive it: the resync is an
// hour), and what its last pass reported must equal what the kernel shows
// once things are quiet.
func TestFamily4AgentRepairsThroughNetlinkOverflow(t *testing.T) {
	node := nt.NewNode(t)
	node.AddManagementNIC(t, "eth0")
	host, err := hostnet.New(node.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	met := metrics.NewAgent(prometheus.NewRegistry())
	var last atomic.Pointer[reconcile.Result]
	cfg := hostloop.Config{
		Options:  desired.Options{BridgeName: br, UplinkTypes: []string{"device", "bond", "veth"}},
		StateDir: t.TempDir(),
		Resync:   time.Hour,
		Metrics:  met,
		OnResult: func(res reconcile.Result) { last.Store(&res) },
	}
	tiny := func(ctx context.Context, watched monitor.Filter) hostloop.Source {
		m := monitor.New(host.NsHandle(), watched).WithMetrics(met).WithReceiveBuffer(1)
		go m.Run(ctx)
		return hostloop.Source{Signal: monitor.Debounce(ctx, m.Changes(), 5*time.Millisecond, 50*time.Millisecond), Take: m.Take}
	}
	loop, err := hostloop.NewWith(host, tiny, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { loop.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	loop.SetInput(desired.Input{Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: "eth0"}}})
	r := &running{node: node, loop: loop}
	r.waitConverged(t, "initial enslave")

	const trials = 10
	failures := 0
	var worst time.Duration
	for i := 0; i < trials; i++ {
		var b strings.Builder
		for j := 0; j < 30; j++ {
			fmt.Fprintf(&b, "link set %s down\nlink set %s up\naddr del 10.11.0.5/24 dev %s\naddr replace 10.11.0.5/24 dev %s\n", br, br, br, br)
		}
		fmt.Fprintf(&b, "link set %s down\naddr del 10.11.0.5/24 dev %s\n", br, br) // the drift that must be repaired
		batch := filepath.Join(t.TempDir(), "batch")
		if err := os.WriteFile(batch, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		// -force: the agent repairs while the batch runs, so a deletion
		// may find the address already gone; ip carries on.
		_, _ = node.TryIP("-force", "-batch", batch)
		end := time.Now()
		ok := false
		for limit := end.Add(deadline); time.Now().Before(limit); time.Sleep(2 * time.Millisecond) {
			if r.converged(t) && reportsKernel(t, host, last.Load()) {
				ok = true
				break
			}
		}
		worst = max(worst, time.Since(end))
		if !ok {
			failures++
			t.Errorf("flood %d: not repaired, or the last pass's view differs from the kernel, %v after it", i, deadline)
		}
	}
	resubs := testutil.ToFloat64(met.Resubscribes)
	if resubs == 0 {
		failures++
		t.Error("the floods never overflowed the subscriptions: the test tested nothing")
	}
	line := fmt.Sprintf("family 4: trials=%d failures=%d worst-gap=%v", trials, failures, worst.Round(time.Millisecond))
	t.Logf("%s (agent loop, %v resubscribes; gap: flood end to repaired and reported as the kernel has it)", line, resubs)
	fmt.Println(line + " (agent loop)")
}

// reportsKernel reports whether the last pass saw the bridge and the NIC
// as the kernel has them now: state, master, MTU, MAC and addresses.
func reportsKernel(t *testing.T, host *hostnet.Host, res *reconcile.Result) bool {
	if res == nil || res.Host == nil {
		return false
	}
	now, err := host.Observe()
	if err != nil {
		t.Fatalf("observing: %v", err)
	}
	for _, name := range []string{br, "eth0"} {
		a, ok1 := res.Host.Link(name)
		b, ok2 := now.Link(name)
		if ok1 != ok2 || !sameLink(a, b) {
			return false
		}
	}
	return true
}

func sameLink(a, b hoststate.Link) bool {
	if a.AdminUp != b.AdminUp || a.OperState != b.OperState || a.MasterIndex != b.MasterIndex || a.MTU != b.MTU || a.MAC != b.MAC || len(a.Addrs) != len(b.Addrs) {
		return false
	}
	for _, x := range a.Addrs {
		if !b.Addrs.Has(x.Prefix) {
			return false
		}
	}
	return true
}
