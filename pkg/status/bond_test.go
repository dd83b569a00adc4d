package status

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// bondHost is host() with harvnet's bond bo0 (index 9) on br0 in place of
// eth0, with slaves eth0 and eth1 in the given MII states; under 802.3ad
// eth1 is in aggregator aggEth1 (the active one is 1).
func bondHost(mode string, eth0MII, eth1MII string, aggEth1 int) *hoststate.State {
	h := host()
	h.Links = append(h.Links, hoststate.Link{Name: "bo0", Index: 9, Type: "bond", MAC: mac0, MTU: 9000, AdminUp: true, OperState: "up", Carrier: true,
		MasterIndex: 3, Alias: plan.OwnerAlias,
		Bond: &hoststate.Bond{Mode: mode, Miimon: 100, ActiveSlave: "eth0", AggregatorID: 1, PartnerMAC: "02:00:00:00:00:aa", LACPRate: "slow", ADSelect: "stable", XmitHashPolicy: "layer2"}})
	for i := range h.Links {
		l := &h.Links[i]
		switch l.Name {
		case "eth0":
			l.MasterIndex, l.SpeedMbps, l.Duplex, l.MTU = 9, 10000, "full", 9000
			l.BondSlave = &hoststate.BondSlave{State: "active", MIIStatus: eth0MII, AggregatorID: 1, PartnerMAC: "02:00:00:00:00:aa"}
		case "eth1":
			l.MasterIndex, l.OperState, l.Carrier = 9, "up", true
			l.BondSlave = &hoststate.BondSlave{State: "backup", MIIStatus: eth1MII, LinkFailureCount: 3, AggregatorID: aggEth1}
		case "br0", "vm1":
			l.MTU = 9000
		}
	}
	h.PortVLANs = map[string][]hoststate.VLAN{"bo0": {{VID: 1, PVID: true, Untagged: true}, {VID: 10}, {VID: 20}}}
	h.DHCPRules = []hoststate.DHCPRule{{NIC: "bo0", MAC: mac0, Dir: hoststate.DirSrc}, {NIC: "bo0", MAC: mac0, Dir: hoststate.DirDst}}
	return h
}

func bondDesired(mode string) desired.State {
	b := &desired.Bond{Name: "bo0", Slaves: []string{"eth0", "eth1"}, Mode: mode, Miimon: 100}
	if mode == "802.3ad" {
		b.LACPRate, b.ADSelect, b.XmitHashPolicy = "slow", "stable", "layer2"
	}
	return desired.State{Bridge: "br0", Uplink: "bo0", BondName: "bo0", Bond: b, VLANs: []int{10, 20}, MTU: 9000}
}

func bondResult(d desired.State, h *hoststate.State) reconcile.Result {
	p := plan.Compute(plan.Input{Desired: d, Host: h, Enslaved: []string{"bo0"}})
	res := reconcile.Result{Desired: d, Host: h}
	for _, s := range p {
		res.Steps = append(res.Steps, reconcile.StepResult{Step: s})
	}
	return res
}

func TestBuildBond(t *testing.T) {
	tests := []struct {
		name             string
		mode, eth0, eth1 string
		agg              int
		ready, uplink    cond
		bondState        string
		eth1InAggregator *bool
	}{
		{
			name: "both up", mode: "active-backup", eth0: "up", eth1: "up",
			ready:     cond{"Ready", "True", "Ready", "host network matches the spec"},
			uplink:    cond{"UplinkReady", "True", "Ready", "bond bo0 (active-backup) is enslaved to br0 and up on 2 of 2 slaves, active slave eth0"},
			bondState: "up 2/2",
		},
		{
			name: "a slave down", mode: "active-backup", eth0: "up", eth1: "down",
			ready:     cond{"Ready", "True", "Degraded", "host network matches the spec; uplink degraded: bond bo0 (active-backup) is enslaved to br0 and up on 1 of 2 slaves, active slave eth0: eth1 down"},
			uplink:    cond{"UplinkReady", "True", "Degraded", "bond bo0 (active-backup) is enslaved to br0 and up on 1 of 2 slaves, active slave eth0: eth1 down"},
			bondState: "degraded 1/2: eth1 down",
		},
		{
			name: "all slaves down", mode: "active-backup", eth0: "down", eth1: "down",
			ready:     cond{"Ready", "False", "NoCarrier", "UplinkReady: bond bo0 is enslaved to br0 but none of its slaves carries traffic: eth0 down; eth1 down; check the cables and the switch ports"},
			uplink:    cond{"UplinkReady", "False", "NoCarrier", "bond bo0 is enslaved to br0 but none of its slaves carries traffic: eth0 down; eth1 down; check the cables and the switch ports"},
			bondState: "down 0/2: eth0 down, eth1 down",
		},
		{
			name: "802.3ad both aggregated", mode: "802.3ad", eth0: "up", eth1: "up", agg: 1,
			ready:            cond{"Ready", "True", "Ready", "host network matches the spec"},
			uplink:           cond{"UplinkReady", "True", "Ready", "bond bo0 (802.3ad) is enslaved to br0 and up on 2 of 2 slaves, active slave eth0"},
			bondState:        "up 2/2",
			eth1InAggregator: boolp(true),
		},
		{
			name: "802.3ad switch port not in the LAG", mode: "802.3ad", eth0: "up", eth1: "up", agg: 2,
			ready:            cond{"Ready", "True", "Degraded", "host network matches the spec; uplink degraded: bond bo0 (802.3ad) is enslaved to br0 and up on 1 of 2 slaves, active slave eth0: eth1 not in the active 802.3ad aggregator (aggregator 2; its switch port is not in the LAG, or the switch does not answer LACP)"},
			uplink:           cond{"UplinkReady", "True", "Degraded", "bond bo0 (802.3ad) is enslaved to br0 and up on 1 of 2 slaves, active slave eth0: eth1 not in the active 802.3ad aggregator (aggregator 2; its switch port is not in the LAG, or the switch does not answer LACP)"},
			bondState:        "degraded 1/2: eth1 not in the active 802.3ad aggregator",
			eth1InAggregator: boolp(false),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := bondHost(tt.mode, tt.eth0, tt.eth1, tt.agg)
			res := bondResult(bondDesired(tt.mode), h)
			for _, s := range res.Steps {
				if len(s.Actions) > 0 {
					t.Fatalf("fixture is not steady: %s: %v", s.Phase, s.Actions)
				}
			}
			st := Build(res, opts, 1)
			assertConds(t, st.Conditions[:1], []cond{tt.ready})
			if got := findCond(t, st.Conditions, v1alpha1.ConditionUplinkReady); conds([]metav1.Condition{got})[0] != tt.uplink {
				t.Errorf("UplinkReady\n got  %+v\n want %+v", conds([]metav1.Condition{got})[0], tt.uplink)
			}
			if st.BondState != tt.bondState {
				t.Errorf("BondState %q, want %q", st.BondState, tt.bondState)
			}
			if st.MTU != 9000 {
				t.Errorf("MTU %d, want the bridge's 9000", st.MTU)
			}
			bs := st.NetworkStatus["bo0"].Bond
			if bs == nil || len(bs.Slaves) != 2 || bs.Mode != v1alpha1.BondMode(tt.mode) || bs.ActiveSlave != "eth0" || bs.Miimon != 100 {
				t.Fatalf("bond status %+v", bs)
			}
			e0, e1 := bs.Slaves[0], bs.Slaves[1]
			if e0.Name != "eth0" || e0.SpeedMbps != 10000 || e0.Duplex != "full" || e1.LinkFailureCount != 3 {
				t.Errorf("slaves %+v", bs.Slaves)
			}
			if got := e1.InActiveAggregator; (got == nil) != (tt.eth1InAggregator == nil) || got != nil && *got != *tt.eth1InAggregator {
				t.Errorf("eth1 in active aggregator %v, want %v", got, tt.eth1InAggregator)
			}
			if tt.mode == "802.3ad" && (e0.PartnerMAC != "02:00:00:00:00:aa" || e1.AggregatorID != tt.agg) {
				t.Errorf("802.3ad slaves %+v", bs.Slaves)
			}
		})
	}
}

func TestBuildBondUnsupported(t *testing.T) {
	h := host()
	d := bondDesired("active-backup")
	res := bondResult(d, h)
	for i := range res.Steps {
		res.Steps[i].Actions = nil
	}
	m := plan.Missing{plan.CapBonding: "the kernel has no bonding driver (CONFIG_BONDING)"}
	p := plan.Compute(plan.Input{Desired: d, Host: h, Missing: m})
	res = reconcile.Result{Desired: d, Host: h, Missing: m}
	for _, s := range p {
		res.Steps = append(res.Steps, reconcile.StepResult{Step: s})
	}
	st := Build(res, opts, 1)
	up := findCond(t, st.Conditions, v1alpha1.ConditionUplinkReady)
	if up.Status != "False" || up.Reason != ReasonUnsupported || !strings.Contains(up.Message, "CONFIG_BONDING") || !strings.Contains(up.Message, "eth0, eth1") {
		t.Errorf("UplinkReady %+v, want Unsupported naming the bond's NICs and the missing driver", up)
	}
	if br := findCond(t, st.Conditions, v1alpha1.ConditionBridgeReady); br.Reason == ReasonUnsupported && strings.Contains(br.Message, "BONDING") {
		t.Errorf("BridgeReady blames bonding: %+v", br)
	}
}

func TestBondProblemsSayWhyOutsideTheAggregator(t *testing.T) {
	out := false
	for partner, want := range map[string]string{
		"":                  "eth2 not in the active 802.3ad aggregator (aggregator 2; its switch port is not in the LAG, or the switch does not answer LACP)",
		"00:00:00:00:00:00": "eth2 not in the active 802.3ad aggregator (aggregator 2; no LACP partner: its switch port is not in the LAG)",
		"62:39:e6:22:c7:f5": "eth2 not in the active 802.3ad aggregator (aggregator 2; partner 62:39:e6:22:c7:f5: another switch or LAG than the active aggregator's)",
	} {
		bs := &v1alpha1.BondStatus{Mode: "802.3ad", Slaves: []v1alpha1.BondSlaveStatus{{Name: "eth2", LinkStatus: v1alpha1.LinkUp, AggregatorID: 2, InActiveAggregator: &out, PartnerMAC: partner}}}
		if up, got := bondProblems(bs); up != 0 || len(got) != 1 || got[0] != want {
			t.Errorf("partner %q: %d up, %q; want %q", partner, up, got, want)
		}
	}
}
