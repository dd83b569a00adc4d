package reconcile_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"testing"
	"time"
)

// BenchmarkEventPass is a netlink-driven pass (ReconcileChanged, no
// netfilter refresh) after an event on the uplink, that finds nothing to
// do, on a node whose bridge carries 0, 200 and 1000 VM ports: what every
// event on a managed link costs as a node fills with VMs. The benchmark
// report (e2e/bench) compares the 1000-port pass with the 0-port one. It
// also reports the median of 5 full passes (full-p50-ms: the periodic
// resync's read of everything), which does grow with the ports.
func BenchmarkEventPass(b *testing.B) {
	for _, ports := range []int{0, 200, 1000} {
		b.Run(fmt.Sprintf("ports=%d", ports), func(b *testing.B) {
			f := newFixture(b)
			f.node.AddManagementNIC(b, "eth0")
			in := vlanSpec("eth0")
			f.rec.Reconcile(in, true)
			addVMPorts(b, f, ports)
			var full []time.Duration
			for i := 0; i < 5; i++ {
				start := time.Now()
				f.rec.Reconcile(in, false) // the periodic full read, without netfilter
				full = append(full, time.Since(start))
			}
			uplink, ok := f.node.Link(b, "eth0")
			if !ok {
				b.Fatal("no eth0")
			}
			took := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				res := f.rec.ReconcileChanged(in, []int{uplink.Index}, false)
				took = append(took, time.Since(start))
				if len(res.Applied) != 0 || res.Err != nil {
					b.Fatalf("steady state applied %v (%v)", res.Applied, res.Err)
				}
			}
			b.StopTimer()
			reportPercentiles(b, took)
			slices.Sort(full)
			b.ReportMetric(float64(full[len(full)/2].Nanoseconds())/1e6, "full-p50-ms")
		})
	}
}

// reportPercentiles adds the median and 99th percentile of single passes
// to the benchmark's mean, for the benchmark report.
func reportPercentiles(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	at := func(q float64) float64 {
		return float64(took[int(q*float64(len(took)-1))].Nanoseconds()) / 1e6
	}
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// addVMPorts puts n up veths on the bridge, as VMs' pods do, with one ip
// batch (a thousand ip calls would take longer than the benchmark).
func addVMPorts(b *testing.B, f *fixture, n int) {
	b.Helper()
	if n == 0 {
		return
	}
	var batch []byte
	for i := 0; i < n; i++ {
		vm := fmt.Sprintf("vm%d", i)
		batch = fmt.Appendf(batch, "link add %s type veth peer name %sp\nlink set %s master %s up\nlink set %sp up\n", vm, vm, vm, br, vm)
	}
	cmd := exec.Command("ip", "-n", f.node.Name, "-batch", "-")
	cmd.Stdin = bytes.NewReader(batch)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("adding %d VM ports: %v: %s", n, err, out)
	}
}
