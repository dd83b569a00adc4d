package reconcile_test

import (
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/nad"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
	"github.com/harvnet/harvnet/pkg/status"
)

// recordingHost is a node that never changes: each pass observes the same
// host, and every action asked of it is recorded, none applied.
type recordingHost struct{ applied []plan.Action }

func (h *recordingHost) Observe() (*hoststate.State, error) { return fuzzHost(), nil }
func (h *recordingHost) RefreshNetfilter() plan.Missing     { return plan.Missing{} }
func (h *recordingHost) Apply(a plan.Action) error {
	h.applied = append(h.applied, a)
	return nil
}

// fuzzHost is a node before harvnet: eth0 carries the management address
// and default route, eth1 and eth2 are free physical NICs with a
// permanent MAC and a PCI address, eth3 carries traffic on a VLAN.
func fuzzHost() *hoststate.State {
	return &hoststate.State{
		Links: []hoststate.Link{
			{Name: "lo", Index: 1, Type: "device", Loopback: true, AdminUp: true, MTU: 65536},
			{Name: "eth0", Index: 2, Type: "device", MAC: "52:54:00:00:00:01", MTU: 1500, AdminUp: true, OperState: "up", Carrier: true,
				PermanentMAC: "52:54:00:00:00:01", PCIAddress: "0000:03:00.0", Addrs: hoststate.Addrs{{Prefix: netip.MustParsePrefix("10.0.0.5/24")}}},
			{Name: "eth1", Index: 3, Type: "device", MAC: "52:54:00:00:00:02", MTU: 1500, AdminUp: true, OperState: "up", Carrier: true,
				PermanentMAC: "52:54:00:00:00:02", PCIAddress: "0000:03:00.1"},
			{Name: "eth2", Index: 4, Type: "device", MAC: "52:54:00:00:00:03", MTU: 9000, AdminUp: true, OperState: "up", Carrier: true,
				PermanentMAC: "52:54:00:00:00:03", PCIAddress: "0000:04:00.0"},
			{Name: "eth3", Index: 5, Type: "device", MAC: "52:54:00:00:00:04", MTU: 1500, AdminUp: true, OperState: "up", Carrier: true},
			{Name: "eth3.7", Index: 6, Type: "vlan", ParentIndex: 5, MTU: 1500, AdminUp: true, OperState: "up", Carrier: true,
				Addrs: hoststate.Addrs{{Prefix: netip.MustParsePrefix("10.7.0.5/24")}}},
		},
		Routes: []hoststate.Route{{Gw: netip.MustParseAddr("10.0.0.1"), LinkIndex: 2, Protocol: 4, Table: 254, Family: 2}},
	}
}

// FuzzAgentInput is fault family 7: the agent's whole input from the API
// (a Node spec with every field, the legacy NIC and the uplink of NICs by
// name, permanent MAC or PCI address with bond options and MTU, and NAD
// configs of any shape) goes through the NAD parser, the desired state,
// the reconciler on a recording host and status. Whatever it is: no
// panic; input the agent refuses asks nothing of the host and its Ready
// condition says why; every condition is one the API server accepts; and
// no action names a link that is neither on the host nor one harvnet makes
// (its bridge and bond).
func FuzzAgentInput(f *testing.F) {
	for _, s := range []struct {
		typ, nic, n1, mac1, pci1, n2, mode string
		miimon                             int
		lacp, xmit, adsel                  string
		mtu                                int
		nad1, nad2                         string
		deleted, uplink                    bool
	}{
		{"vlan", "eth1", "", "", "", "", "", 0, "", "", "", 0, `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":100}`, "", false, false},
		{"vlan", "eth0", "", "", "", "", "", 0, "", "", "", 1500, `{"type":"bridge","bridge":"harvester-br0","vlanTrunk":[{"minID":10,"maxID":20},{"id":4094}]}`, `{"plugins":[{"type":"bridge","bridge":"harvester-br0","vlan":5}]}`, false, false},
		{"vlan", "", "eth1", "", "", "", "", 0, "", "", "", 9000, "", "", false, true},
		{"vlan", "", "", "52:54:00:00:00:02", "", "", "", 0, "", "", "", 0, "", "", false, true},
		{"vlan", "", "", "", "0000:04:00.0", "", "", 0, "", "", "", 0, "", "", false, true},
		{"vlan", "", "eth1", "", "", "eth2", "802.3ad", 100, "fast", "layer3+4", "bandwidth", 9000, "", "", false, true},
		{"vlan", "", "eth1", "", "", "eth2", "balance-rr", -1, "slow", "encap3+4", "count", 575, "", "", false, true},
		{"vlan", "", "", "zz:zz", "0000:zz", "eth9", "nonsense", 1 << 30, "x", "y", "z", -5, "", "", false, true},
		{"vlan", "eth3", "", "", "", "", "", 0, "", "", "", 0, "", "", false, false},
		{"vlan", "eth9", "", "", "", "", "", 0, "", "", "", 0, "", "", false, false},
		{"vlan", "harvester-br0", "", "", "", "", "", 0, "", "", "", 0, "", "", false, false},
		{"vlan", "lo", "", "", "", "", "", 0, "", "", "", 0, "", "", false, false},
		{"vlan", "eth0/1", "", "", "", "", "", 0, "", "", "", 0, "", "", false, false},
		{"vlan", "eth1", "eth2", "", "", "", "", 0, "", "", "", 0, "", "", false, true},
		{"bond", "eth1", "", "", "", "", "", 0, "", "", "", 0, "", "", false, false},
		{"", "eth1", "", "", "", "", "", 0, "", "", "", 0, `{"type":"bridge","bridge":"harvester-br0","vlan":4095}`, "not json", false, false},
		{"vlan", "eth1", "", "", "", "", "", 0, "", "", "", 0, `{"type":"bridge","bridge":"harvester-br0","vlanTrunk":[{"minID":20,"maxID":10}]}`, `{"type":"bridge","bridge":"harvester-br0","vlan":-1}`, false, false},
		{"vlan", "eth1", "", "", "", "", "", 0, "", "", "", 0, `{"type":"bridge","bridge":"harvester-br0","vlanTrunk":[{"minID":1,"maxID":4094}]}`, `{"type":"bridge","bridge":"other","vlan":9}`, true, false},
		{"vlan", "eth1", "", "", "", "", "", 0, "", "", "", 0, `{"type":"bridge","bridge":"harvester-br0","mtu":9000,"vlan":10}`, `{"plugins":[1,2,"x"]}`, false, false},
		{"vlan", "\x00", "\xff", "", "", "", "", 0, "", "", "", 0, "{", "[]", false, true},
	} {
		f.Add(s.typ, s.nic, s.n1, s.mac1, s.pci1, s.n2, s.mode, s.miimon, s.lacp, s.xmit, s.adsel, s.mtu, s.nad1, s.nad2, s.deleted, s.uplink)
	}
	opts := desired.Options{BridgeName: "harvester-br0", UplinkTypes: desired.DefaultUplinkTypes}
	var trials, failures, invalid atomic.Int64
	f.Cleanup(func() {
		// In this process: the seed corpus in the unit tier, or one
		// worker's share under -fuzz.
		fmt.Printf("family 7: trials=%d failures=%d worst-gap=n/a (%d refused as invalid)\n", trials.Load(), failures.Load(), invalid.Load())
	})
	f.Fuzz(func(t *testing.T, typ, nic, n1, mac1, pci1, n2, mode string, miimon int, lacp, xmit, adsel string, mtu int, nad1, nad2 string, deleted, useUplink bool) {
		trials.Add(1)
		defer func() {
			if t.Failed() {
				failures.Add(1)
			}
		}()
		spec := v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkType(typ), NIC: nic, MTU: mtu}}
		if useUplink {
			up := &v1alpha1.UplinkSpec{NICs: []v1alpha1.NICRef{{Name: n1, MAC: mac1, PCIAddress: pci1}}}
			if n2 != "" {
				up.NICs = append(up.NICs, v1alpha1.NICRef{Name: n2})
			}
			if mode != "" || miimon != 0 || lacp != "" || xmit != "" || adsel != "" {
				up.Bond = &v1alpha1.BondOptions{Mode: v1alpha1.BondMode(mode), LACPRate: lacp, XmitHashPolicy: xmit, ADSelect: adsel}
				if miimon != 0 {
					up.Bond.Miimon = &miimon
				}
			}
			spec.Network.Uplink = up
		}
		// The NADs as the agent joins them: a broken one is skipped whole.
		in := desired.Input{Spec: spec, Deleted: deleted, Generation: 1}
		for _, cfg := range []string{nad1, nad2} {
			vids, err := nad.VLANs(cfg, opts.BridgeName)
			if err != nil {
				continue
			}
			in.VLANs = append(in.VLANs, vids...)
			if m, err := nad.MTU(cfg, opts.BridgeName); err == nil && m > 0 {
				in.NADMTUs = append(in.NADMTUs, desired.NADMTU{NAD: "ns/nad", MTU: m})
			}
		}

		host := &recordingHost{}
		rec, err := reconcile.New(host, opts, "")
		if err != nil {
			t.Fatal(err)
		}
		res := rec.Reconcile(in, true)
		if res.Err != nil || res.Checkpoint != nil {
			t.Fatalf("a fixed host and no state file: err=%v checkpoint=%v", res.Err, res.Checkpoint)
		}
		if _, cerr := desired.Compute(in, opts); cerr != nil && res.Invalid == nil {
			t.Fatalf("desired.Compute refuses the input (%v) but the pass was not invalid", cerr)
		}
		st := status.Build(res, opts, 1)
		ready := fuzzCondition(st.Conditions, v1alpha1.ConditionReady)
		if res.Invalid != nil {
			invalid.Add(1)
			if len(host.applied) != 0 || len(res.Applied) != 0 {
				t.Fatalf("invalid input (%s: %s) reached the host: %v", res.Invalid.Reason, res.Invalid.Message, host.applied)
			}
			if ready.Status != metav1.ConditionFalse || ready.Reason != res.Invalid.Reason || ready.Message == "" {
				t.Fatalf("invalid input %s: Ready %s/%s %q, want False, that reason and why", res.Invalid.Reason, ready.Status, ready.Reason, ready.Message)
			}
		}
		for i := range st.Conditions {
			c := st.Conditions[i]
			c.LastTransitionTime = metav1.Now() // status leaves it to the writer
			if errs := metav1validation.ValidateCondition(c, field.NewPath("status", "conditions").Index(i)); len(errs) > 0 {
				t.Fatalf("the API server would refuse condition %+v: %v", c, errs.ToAggregate())
			}
		}
		known := []string{opts.BridgeName, opts.Bond()} // the links harvnet makes
		for _, l := range fuzzHost().Links {
			known = append(known, l.Name)
		}
		for _, a := range host.applied {
			for _, l := range []string{a.Link, a.Master} {
				if l != "" && !slices.Contains(known, l) {
					t.Fatalf("action %v names %q, which is neither on the host nor one harvnet makes", a, l)
				}
			}
			if a.Link == "eth3" || a.Link == "eth3.7" || a.Owner == "eth3" {
				t.Fatalf("action %v touches eth3, whose VLAN carries the node's traffic", a)
			}
		}
		if (deleted || typ == "") && len(host.applied) != 0 {
			t.Fatalf("teardown of a host without harvnet's bridge acted: %v", host.applied)
		}
	})
}

func fuzzCondition(cs []metav1.Condition, typ string) metav1.Condition {
	for _, c := range cs {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{}
}
