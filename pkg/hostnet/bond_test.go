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
