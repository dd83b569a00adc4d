package desired

import (
	"net/netip"
	"testing"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// uplinkHost is a node with a loopback, our bridge br0 (index 5) with eth2 as
// port, another bridge with eth1 as port, a bond with eth3, and a veth.
func uplinkHost() *hoststate.State {
	return &hoststate.State{Links: []hoststate.Link{
		{Name: "lo", Index: 1, Type: "device", Loopback: true},
		{Name: "eth0", Index: 2, Type: "device"},
		{Name: "eth1", Index: 3, Type: "device", MasterIndex: 10},
		{Name: "br0", Index: 5, Type: "bridge"},
		{Name: "veth0", Index: 6, Type: "veth"},
		{Name: "eth2", Index: 7, Type: "device", MasterIndex: 5},
		{Name: "bond0", Index: 8, Type: "bond"},
		{Name: "eth3", Index: 9, Type: "device", MasterIndex: 8},
		{Name: "otherbr", Index: 10, Type: "bridge"},
		{Name: "orphan", Index: 11, Type: "device", MasterIndex: 99},
		// eth4 carries the node's traffic on a VLAN and a macvlan; eth5 has
		// a VLAN without addresses; veth1's peer index must not read as a
		// lower device.
		{Name: "eth4", Index: 12, Type: "device"},
		{Name: "eth4.100", Index: 13, Type: "vlan", ParentIndex: 12, Addrs: hoststate.Addrs{
			{Prefix: netip.MustParsePrefix("10.100.0.5/24")}, {Prefix: netip.MustParsePrefix("fe80::1/64"), Scope: 253}}},
		{Name: "mv0", Index: 14, Type: "macvlan", ParentIndex: 12, Addrs: hoststate.Addrs{{Prefix: netip.MustParsePrefix("fd00::5/64")}}},
		{Name: "eth5", Index: 15, Type: "device"},
		{Name: "eth5.7", Index: 16, Type: "vlan", ParentIndex: 15, Addrs: hoststate.Addrs{{Prefix: netip.MustParsePrefix("fe80::2/64"), Scope: 253}}},
		{Name: "veth1", Index: 17, Type: "veth", Addrs: hoststate.Addrs{{Prefix: netip.MustParsePrefix("10.9.0.5/24")}}},
		{Name: "eth6", Index: 18, Type: "device"},
		{Name: "ipvl0", Index: 19, Type: "ipvlan", ParentIndex: 18},
	}}
}

func TestCheckUplink(t *testing.T) {
	withVeth := Options{BridgeName: "br0", UplinkTypes: []string{"device", "bond", "veth"}}
	tests := []struct {
		name    string
		st      State
		opts    Options
		reason  string // "" for OK
		message string
	}{
		{name: "teardown ignores a missing NIC", st: State{Teardown: true, Bridge: "br0", Uplink: "eth9"}},
		{name: "no uplink", st: State{Bridge: "br0"}},
		{
			name: "missing NIC", st: State{Bridge: "br0", Uplink: "eth9"}, reason: ReasonNICNotFound,
			message: `NIC "eth9" does not exist on this node; pick one from status.nics`,
		},
		{
			name: "loopback", st: State{Bridge: "br0", Uplink: "lo"}, reason: ReasonInvalidNIC,
			message: `NIC "lo" cannot be the uplink: it is the loopback interface`,
		},
		{
			name: "the bridge", st: State{Bridge: "br0", Uplink: "br0"}, reason: ReasonInvalidNIC,
			message: `NIC "br0" cannot be the uplink: it is the VLAN bridge itself`,
		},
		{
			name: "veth not allowed", st: State{Bridge: "br0", Uplink: "veth0"}, reason: ReasonNICTypeNotAllowed,
			message: `NIC "veth0" cannot be the uplink: links of type veth are not accepted as uplinks (agent option --uplink-types)`,
		},
		{name: "veth allowed", st: State{Bridge: "br0", Uplink: "veth0"}, opts: withVeth},
		{
			name: "another bridge is not an uplink type", st: State{Bridge: "br0", Uplink: "otherbr"}, reason: ReasonNICTypeNotAllowed,
			message: `NIC "otherbr" cannot be the uplink: links of type bridge are not accepted as uplinks (agent option --uplink-types)`,
		},
		{
			name: "enslaved to another bridge", st: State{Bridge: "br0", Uplink: "eth1"}, reason: ReasonNICEnslavedElsewhere,
			message: `NIC "eth1" cannot be the uplink: it is already enslaved to otherbr`,
		},
		{
			name: "enslaved to a bond", st: State{Bridge: "br0", Uplink: "eth3"}, reason: ReasonNICEnslavedElsewhere,
			message: `NIC "eth3" cannot be the uplink: it is already enslaved to bond0`,
		},
		{name: "already enslaved to our bridge", st: State{Bridge: "br0", Uplink: "eth2"}},
		{name: "free NIC", st: State{Bridge: "br0", Uplink: "eth0"}},
		{name: "bond", st: State{Bridge: "br0", Uplink: "bond0"}},
		{
			name: "eth2 is enslaved elsewhere when the bridge is called otherwise", st: State{Bridge: "br1", Uplink: "eth2"},
			reason: ReasonNICEnslavedElsewhere, message: `NIC "eth2" cannot be the uplink: it is already enslaved to br0`,
		},
		{name: "master not observed", st: State{Bridge: "br0", Uplink: "orphan"}, reason: ReasonNICEnslavedElsewhere},
		{
			name: "uppers carry the node's traffic", st: State{Bridge: "br0", Uplink: "eth4"}, reason: ReasonNICHasUpperDevices,
			message: `NIC "eth4" cannot be the uplink: the node's traffic runs over vlan eth4.100 (10.100.0.5/24), macvlan mv0 (fd00::5/64) stacked on it; as a bridge port the NIC would hand their frames to the bridge and cut that traffic off. Move those devices and addresses off it (onto a VLAN of the bridge, or another NIC) or pick another NIC`,
		},
		{
			name: "an ipvlan without addresses still holds the receive path", st: State{Bridge: "br0", Uplink: "eth6"}, reason: ReasonNICHasUpperDevices,
			message: `NIC "eth6" cannot be the uplink: ipvlan ipvl0 on it takes the NIC's receive path, so the kernel refuses it as a bridge port (EBUSY). Move those devices and addresses off it (onto a VLAN of the bridge, or another NIC) or pick another NIC`,
		},
		{name: "an upper with a link-local address only", st: State{Bridge: "br0", Uplink: "eth5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.BridgeName == "" {
				opts = testOpts
			}
			err := CheckUplink(tt.st, uplinkHost(), opts)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("CheckUplink() = %v, want nil", err)
				}
				return
			}
			ie, ok := AsInvalid(err)
			if !ok {
				t.Fatalf("CheckUplink() = %v, want an InvalidError %s", err, tt.reason)
			}
			if ie.Reason != tt.reason {
				t.Errorf("CheckUplink() reason = %q, want %q", ie.Reason, tt.reason)
			}
			if tt.message != "" && ie.Message != tt.message {
				t.Errorf("CheckUplink() message = %q, want %q", ie.Message, tt.message)
			}
		})
	}
}
