package reconcile_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/status"
	"strings"
)

// An agent that starts with no Node object tears down. A harvester-br0 it
// did not make (no mark, nothing in the state file), holding the node's
// management NIC and its addresses, is left exactly as it is, whatever the
// input; the bridge condition says whose it is not and what to do.
func TestForeignBridgeIsNeverTouched(t *testing.T) {
	f := newFixture(t)
	f.node.AddManagementNIC(t, "eth0")
	f.node.AddNIC(t, "eth1")
	// The admin's own bridge: the management NIC and its configuration moved onto it.
	f.node.IP(t, "link", "add", br, "type", "bridge")
	f.node.IP(t, "link", "set", br, "address", f.link(t, "eth0").Address, "up")
	f.node.IP(t, "addr", "del", "10.11.0.5/24", "dev", "eth0")
	f.node.IP(t, "addr", "add", "10.11.0.5/24", "dev", br)
	f.node.IP(t, "link", "set", "eth0", "master", br)
	f.node.IP(t, "route", "replace", "default", "via", "10.11.0.1", "dev", br)
	f.node.IP(t, "link", "set", "eth1", "master", br)
	// Links (masters, MACs, flags, aliases), global addresses and routes:
	// not `-d`, whose bridge timers tick on their own.
	snapshot := func() string {
		return f.node.IP(t, "-o", "link") + f.node.IP(t, "-o", "addr", "show", "scope", "global") + f.node.IP(t, "route") + f.node.IP(t, "-6", "route")
	}
	before := snapshot()
	for _, c := range []struct {
		name string
		in   desired.Input
	}{
		{"no Node object", desired.Input{Deleted: true}},
		{"empty spec", desired.Input{}},
		{"vlan network on eth1", vlanSpec("eth1")},
		{"vlan network on eth0", vlanSpec("eth0")},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := f.rec.Reconcile(c.in, true)
			if res.Err != nil || res.Invalid != nil {
				t.Fatalf("err=%v invalid=%v", res.Err, res.Invalid)
			}
			if len(res.Applied) != 0 {
				t.Errorf("applied %v on a bridge that is not harvnet's", res.Applied)
			}
			if after := snapshot(); after != before {
				t.Errorf("host changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
			st := status.Build(res, testOpts, 1)
			c := metaCondition(st.Conditions, v1alpha1.ConditionBridgeReady)
			if c.Status != metav1.ConditionFalse || c.Reason != plan.ReasonNotOwned {
				t.Fatalf("BridgeReady %s/%s %q, want False/%s", c.Status, c.Reason, c.Message, plan.ReasonNotOwned)
			}
			if r := metaCondition(st.Conditions, v1alpha1.ConditionReady); r.Status != metav1.ConditionFalse || r.Reason != plan.ReasonNotOwned {
				t.Errorf("Ready %s/%s, want False/%s", r.Status, r.Reason, plan.ReasonNotOwned)
			}
			for _, want := range []string{"is not harvnet's", "ip link del " + br, "alias " + plan.OwnerAlias} {
				if !contains(c.Message, want) {
					t.Errorf("BridgeReady message %q lacks %q", c.Message, want)
				}
			}
		})
	}
	if got := f.link(t, "eth0").Master; got != br {
		t.Errorf("eth0's master is %q, want %s", got, br)
	}
	if got := f.link(t, "eth1").Master; got != br {
		t.Errorf("eth1's master is %q, want %s", got, br)
	}
}

// The bridge harvnet creates carries its mark as the kernel reports it, and
// harvnet tears it down as its own. It is made under a name only harvnet
// uses, marked, then renamed: one left by an agent killed in between is
// finished, not taken for someone else's.
func TestCreatedBridgeCarriesHarvnetsMark(t *testing.T) {
	f := newFixture(t)
	f.node.AddNIC(t, "eth1")
	f.node.IP(t, "link", "add", "harvnet-new", "type", "bridge") // a crash after creating, before marking
	f.reconcile(t, vlanSpec("eth1"))
	if a := f.link(t, br).Alias; a != plan.OwnerAlias {
		t.Fatalf("bridge ifalias %q, want %q", a, plan.OwnerAlias)
	}
	if _, ok := f.node.Link(t, "harvnet-new"); ok {
		t.Error("the bridge's creation name is left behind")
	}
	f.reconcile(t, desired.Input{Deleted: true})
	if _, ok := f.node.Link(t, br); ok {
		t.Error("harvnet's own bridge was not deleted at teardown")
	}
	if m := f.link(t, "eth1").Master; m != "" {
		t.Errorf("eth1 still enslaved to %s", m)
	}
}

// A bridge made by a harvnet from before the mark has none, but the state
// file records the NIC harvnet enslaved to it: it is harvnet's, gets the
// mark on the next pass, and is torn down as harvnet's.
func TestOlderHarvnetsBridgeIsMarkedFromTheStateFile(t *testing.T) {
	f := newFixture(t)
	f.node.AddManagementNIC(t, "eth0")
	f.reconcile(t, vlanSpec("eth0"))
	f.node.IP(t, "link", "set", br, "alias", "") // as an older harvnet left it
	if a := f.link(t, br).Alias; a != "" {
		t.Fatalf("could not clear the alias: %q", a)
	}
	res := f.reconcile(t, vlanSpec("eth0"))
	if len(res.Applied) != 1 || res.Applied[0].Op != plan.SetAlias {
		t.Errorf("applied %v, want only the mark", res.Applied)
	}
	if a := f.link(t, br).Alias; a != plan.OwnerAlias {
		t.Fatalf("bridge ifalias %q, want %q", a, plan.OwnerAlias)
	}
	f.reconcile(t, desired.Input{Deleted: true})
	if _, ok := f.node.Link(t, br); ok {
		t.Error("the bridge was not deleted at teardown")
	}
	if got := f.link(t, "eth0").GlobalAddrs(); len(got) != 2 {
		t.Errorf("eth0 holds %v after teardown, want its two addresses back", got)
	}
}

func metaCondition(cs []metav1.Condition, typ string) metav1.Condition {
	for _, c := range cs {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{Type: typ, Status: "absent"}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
