package status

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// BenchmarkBuildAndCompare is what every pass costs on the status side: build
// the status of a node with 4 NICs and 200 VM ports and compare it with the
// last one written (equal: no write).
func BenchmarkBuildAndCompare(b *testing.B) {
	h := &hoststate.State{}
	add := func(l hoststate.Link) { h.Links = append(h.Links, l) }
	add(hoststate.Link{Name: "lo", Index: 1, Type: "device", Loopback: true, AdminUp: true})
	for i := 0; i < 4; i++ {
		add(hoststate.Link{Name: fmt.Sprintf("eno%d", i), Index: 2 + i, Type: "device", MAC: "52:54:00:00:00:0" + fmt.Sprint(i), MTU: 1500, AdminUp: true, OperState: "up"})
	}
	on := true
	add(hoststate.Link{Name: "harvester-br0", Index: 10, Type: "bridge", AdminUp: true, OperState: "up", VLANFiltering: &on,
		Addrs: []hoststate.Addr{{Prefix: netip.MustParsePrefix("10.0.0.5/24")}}})
	h.Links[1].MasterIndex = 10
	for i := 0; i < 200; i++ {
		add(hoststate.Link{Name: fmt.Sprintf("vm%d", i), Index: 100 + i, Type: "veth", AdminUp: true, OperState: "up", MasterIndex: 10})
	}
	h.Routes = []hoststate.Route{{LinkIndex: 10, Gw: netip.MustParseAddr("10.0.0.1"), Protocol: 4, Table: 254, Family: 2}}
	h.PortVLANs = map[string][]hoststate.VLAN{"eno0": {{VID: 1, PVID: true}, {VID: 100}, {VID: 200}}}
	opts := desired.Options{BridgeName: "harvester-br0", UplinkTypes: desired.DefaultUplinkTypes}
	res := reconcile.Result{Host: h, Desired: desired.State{Bridge: "harvester-br0", Uplink: "eno0", VLANs: []int{100, 200}}}
	last := Build(res, opts, 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next := Build(res, opts, 1)
		if !Equal(&last, &next) {
			b.Fatal("same host, different status")
		}
	}
}
