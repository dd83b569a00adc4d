package hostnet

import (
	"net"
	"reflect"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// TestBondNamesRoundTrip: what setBondOptions writes for each option value
// desired allows reads back through toBond as the same words, so a plan
// never sees a difference that is only spelling (which would restart the
// bond on every pass).
func TestBondNamesRoundTrip(t *testing.T) {
	modes := []string{"balance-rr", "active-backup", "balance-xor", "broadcast", "802.3ad", "balance-tlb", "balance-alb"}
	for _, mode := range modes {
		for _, o := range []desired.Bond{
			{Mode: mode, Miimon: 100},
			{Mode: mode, Miimon: 0, LACPRate: "fast", ADSelect: "bandwidth", XmitHashPolicy: "layer3+4"},
			{Mode: mode, Miimon: 250, LACPRate: "slow", ADSelect: "count", XmitHashPolicy: "vlan+srcmac"},
			{Mode: mode, Miimon: 1, LACPRate: "slow", ADSelect: "stable", XmitHashPolicy: "encap2+3"},
		} {
			b := netlink.NewLinkBond(netlink.LinkAttrs{})
			setBondOptions(b, &o)
			got := toBond(b)
			want := &hoststate.Bond{Mode: mode, Miimon: o.Miimon}
			// Unset options read back as unknown, never as a default.
			if mode == "802.3ad" && o.LACPRate != "" {
				want.LACPRate, want.ADSelect = o.LACPRate, o.ADSelect
			}
			if desired.UsesHash(mode) && o.XmitHashPolicy != "" {
				want.XmitHashPolicy = o.XmitHashPolicy
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%+v: read back %+v, want %+v", o, got, want)
			}
		}
	}
}

func TestToBondSlave(t *testing.T) {
	mac, _ := net.ParseMAC("52:54:00:00:00:02")
	got := toBondSlave(&netlink.BondSlave{State: netlink.BondStateBackup, MiiStatus: netlink.BondLinkDown, LinkFailureCount: 3, PermHardwareAddr: mac, AggregatorId: 2})
	want := &hoststate.BondSlave{State: "backup", MIIStatus: "down", LinkFailureCount: 3, PermHardwareAddr: "52:54:00:00:00:02", AggregatorID: 2}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("toBondSlave = %+v, want %+v", got, want)
	}
}

// procBonding is /proc/net/bonding/<bond> of an 802.3ad bond in the format
// of Debian 12's 6.1 kernel (from the VM tier's output), with eth2's
// section as it reads when its switch port is outside the switch's LAG.
const procBonding = `Ethernet Channel Bonding Driver: v6.1.0-57-amd64

Bonding Mode: IEEE 802.3ad Dynamic link aggregation
Transmit Hash Policy: layer3+4 (1)
MII Status: up
MII Polling Interval (ms): 100

802.3ad info
LACP active: on
LACP rate: fast
Min links: 0
Aggregator selection policy (ad_select): stable
System priority: 65535
System MAC address: 92:99:d8:82:81:f7
Active Aggregator Info:
	Aggregator ID: 1
	Number of ports: 1
	Actor Key: 15
	Partner Key: 15
	Partner Mac Address: 62:39:e6:22:c7:f5

Slave Interface: eth1
MII Status: up
Speed: 10000 Mbps
Duplex: full
Link Failure Count: 0
Permanent HW addr: 92:99:d8:82:81:f7
Slave queue ID: 0
Aggregator ID: 1
Actor Churn State: monitoring
Partner Churn State: monitoring
Actor Churned Count: 0
Partner Churned Count: 0
details actor lacp pdu:
    system priority: 65535
    system mac address: 92:99:d8:82:81:f7
    port key: 15
    port priority: 255
    port number: 1
    port state: 63
details partner lacp pdu:
    system priority: 65535
    system mac address: 62:39:e6:22:c7:f5
    oper key: 15
    port priority: 255
    port number: 1
    port state: 63

Slave Interface: eth2
MII Status: up
Speed: 10000 Mbps
Duplex: full
Link Failure Count: 0
Permanent HW addr: 5a:0c:11:22:33:44
Slave queue ID: 0
Aggregator ID: 2
Actor Churn State: churned
Partner Churn State: churned
Actor Churned Count: 1
Partner Churned Count: 1
details actor lacp pdu:
    system priority: 65535
    system mac address: 92:99:d8:82:81:f7
    port key: 15
    port priority: 255
    port number: 2
    port state: 7
details partner lacp pdu:
    system priority: 65535
    system mac address: 00:00:00:00:00:00
    oper key: 1
    port priority: 255
    port number: 1
    port state: 1
`

func TestParseSlavePartners(t *testing.T) {
	got := parseSlavePartners(procBonding)
	want := map[string]string{"eth1": "62:39:e6:22:c7:f5", "eth2": "00:00:00:00:00:00"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseSlavePartners = %v, want %v", got, want)
	}
	if got := parseSlavePartners("Bonding Mode: fault-tolerance (active-backup)\n\nSlave Interface: eth1\nMII Status: up\n"); len(got) != 0 {
		t.Errorf("active-backup: %v, want no partners", got)
	}
}
