package reconcile_test

import (
	"testing"

	nt "github.com/harvnet/harvnet/internal/netnstest"
)

// An 802.1Q VLAN device on the chosen NIC holding the node's address (a
// management VLAN): the NIC is refused up front and the host is unchanged.
// Kernels without 8021q skip it; on a full kernel (scripts/vm-test.sh) it
// must run.
func TestUplinkWithATrafficCarryingVLANIsRefused(t *testing.T) {
	f := newFixture(t)
	f.node.AddNIC(t, "eth1")
	_, err := f.node.TryIP("link", "add", "link", "eth1", "name", "eth1.100", "type", "vlan", "id", "100")
	nt.RequireKernel(t, err == nil, "802.1Q VLAN devices (CONFIG_VLAN_8021Q)")
	f.node.IP(t, "link", "set", "eth1.100", "up")
	waitOperUp(t, f, "eth1.100")
	f.node.IP(t, "addr", "add", "10.45.0.5/24", "dev", "eth1.100")
	assertUpperRefused(t, f, "eth1", "eth1.100", "10.45.0.5/24")
}
