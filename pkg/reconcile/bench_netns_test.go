package reconcile_test

import (
	"fmt"
	"testing"

	"github.com/harvnet/harvnet/pkg/desired"
)

// BenchmarkSteadyStatePass is the cost of a pass that finds nothing to do,
// which is what every netlink event on a managed link costs.
func BenchmarkSteadyStatePass(b *testing.B) {
	f := newFixture(b)
	f.node.AddManagementNIC(b, "eth0")
	in := vlanSpec("eth0")
	f.rec.Reconcile(in, true)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := f.rec.Reconcile(in, false); len(res.Applied) != 0 {
			b.Fatalf("steady state applied %v", res.Applied)
		}
	}
}

// BenchmarkEnslaveAndRelease moves a management NIC onto the bridge and back.
func BenchmarkEnslaveAndRelease(b *testing.B) {
	f := newFixture(b)
	f.node.AddManagementNIC(b, "eth0")
	on, off := vlanSpec("eth0"), desired.Input{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := f.rec.Reconcile(on, false); res.Failed() {
			b.Fatal("enslave failed")
		}
		if res := f.rec.Reconcile(off, false); res.Failed() {
			b.Fatal("release failed")
		}
	}
}

// BenchmarkSteadyStatePassWith200VMs is the same pass on a node whose
// bridge carries 200 VM veths: what a busy node pays per managed event.
func BenchmarkSteadyStatePassWith200VMs(b *testing.B) {
	f := newFixture(b)
	f.node.AddManagementNIC(b, "eth0")
	in := vlanSpec("eth0")
	f.rec.Reconcile(in, true)
	for i := 0; i < 200; i++ {
		vm := fmt.Sprintf("vm%d", i)
		f.node.IP(b, "link", "add", vm, "type", "veth", "peer", "name", vm+"p")
		f.node.IP(b, "link", "set", vm, "master", br, "up")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if res := f.rec.Reconcile(in, false); len(res.Applied) != 0 {
			b.Fatalf("steady state applied %v", res.Applied)
		}
	}
}
