package reconcile_test

import (
	"strings"
	"testing"
	"time"

	nt "github.com/harvnet/harvnet/internal/netnstest"

	"github.com/harvnet/harvnet/pkg/desired"
)

// assertUpperRefused asks for nic as uplink while upper, stacked on it,
// holds addr: the spec is refused naming both, nothing is applied, and the
// host is as it was (the NIC not enslaved, the upper keeps its address).
func assertUpperRefused(t *testing.T, f *fixture, nic, upper, addr string) {
	t.Helper()
	snapshot := func() string {
		return f.node.IP(t, "-o", "link") + f.node.IP(t, "-o", "addr", "show", "scope", "global") + f.node.IP(t, "route") + f.node.IP(t, "-6", "route")
	}
	before := snapshot()
	res := f.rec.Reconcile(vlanSpec(nic), true)
	if res.Invalid == nil || res.Invalid.Reason != desired.ReasonNICHasUpperDevices {
		t.Fatalf("invalid = %+v, want reason %s", res.Invalid, desired.ReasonNICHasUpperDevices)
	}
	for _, want := range []string{nic, upper, addr} {
		if !strings.Contains(res.Invalid.Message, want) {
			t.Errorf("message %q does not name %s", res.Invalid.Message, want)
		}
	}
	if len(res.Applied) != 0 {
		t.Errorf("applied %v", res.Applied)
	}
	if after := snapshot(); after != before {
		t.Errorf("host changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if _, ok := f.node.Link(t, br); ok {
		t.Errorf("bridge %s was created for a refused uplink", br)
	}
	if got := f.link(t, upper).GlobalAddrs(); len(got) != 1 || got[0] != addr {
		t.Errorf("%s holds %v, want %s", upper, got, addr)
	}
}

// A macvlan on the chosen NIC carries the node's traffic: enslaving the NIC
// would hand the macvlan's frames to the bridge (and the kernel refuses
// the port anyway, EBUSY, after the bridge got the NIC's addresses), so it
// is refused up front, also once the macvlan holds no address. With the
// macvlan gone the NIC is taken.
func TestUplinkWithAMacvlanIsRefused(t *testing.T) {
	f := newFixture(t)
	f.node.AddManagementNIC(t, "eth1")
	f.node.IP(t, "link", "add", "link", "eth1", "name", "mv0", "type", "macvlan", "mode", "bridge")
	f.node.IP(t, "link", "set", "mv0", "up")
	waitOperUp(t, f, "mv0")
	f.node.IP(t, "addr", "add", "10.44.0.5/24", "dev", "mv0")
	assertUpperRefused(t, f, "eth1", "mv0", "10.44.0.5/24")

	f.node.IP(t, "addr", "flush", "dev", "mv0", "scope", "global")
	res := f.rec.Reconcile(vlanSpec("eth1"), true)
	if res.Invalid == nil || res.Invalid.Reason != desired.ReasonNICHasUpperDevices || !strings.Contains(res.Invalid.Message, "EBUSY") {
		t.Fatalf("with an address-less macvlan: invalid = %+v, want %s saying the kernel refuses the port", res.Invalid, desired.ReasonNICHasUpperDevices)
	}
	if got := f.link(t, "eth1").GlobalAddrs(); len(got) != 2 {
		t.Errorf("eth1 holds %v, want its two addresses untouched", got)
	}

	f.node.IP(t, "link", "del", "mv0")
	f.reconcile(t, vlanSpec("eth1"))
	if m := f.link(t, "eth1").Master; m != br {
		t.Errorf("eth1's master is %q once mv0 is gone, want %s", m, br)
	}
}

// waitOperUp waits until a stacked link just set up reports operstate UP
// (a VLAN device says UNKNOWN for a moment), so snapshots compare settled.
func waitOperUp(t *testing.T, f *fixture, name string) {
	t.Helper()
	nt.Eventually(t, 10*time.Second, nt.Check(name+" did not come up", func() bool { return f.link(t, name).OperState == "UP" }))
}
