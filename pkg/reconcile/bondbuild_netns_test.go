package reconcile_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/status"
)

// bo is the bond harvnet builds next to br (desired.DefaultBondName).
const bo = "harvester-bo0"

// bondSpec asks for an uplink of the NICs bonded in mode (empty: the
// default), with the MTU.
func bondSpec(mode v1alpha1.BondMode, mtu int, nics ...string) desired.Input {
	u := &v1alpha1.UplinkSpec{Bond: &v1alpha1.BondOptions{Mode: mode}}
	for _, n := range nics {
		u.NICs = append(u.NICs, v1alpha1.NICRef{Name: n})
	}
	return desired.Input{Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, Uplink: u, MTU: mtu}}}
}

// TestBondBuiltOrReportedMissing asks for a bond of two NICs with MTU 9000.
// Without bonding in the kernel (this host's) the agent says so in
// UplinkReady, Unsupported, naming the driver, still builds the bridge and
// leaves the NICs alone; with it (the VM tier, where this must take that
// branch) the bond is built, marked, enslaved, and everything carries MTU
// 9000. Either way a teardown leaves the NICs free.
func TestBondBuiltOrReportedMissing(t *testing.T) {
	has := nt.KernelHasBonding(t)
	f := newFixture(t)
	f.node.AddNIC(t, "eth1")
	f.node.AddNIC(t, "eth2")
	res := f.reconcile(t, bondSpec("", 9000, "eth1", "eth2"))
	st := status.Build(res, testOpts, 1)
	up := meta.FindStatusCondition(st.Conditions, v1alpha1.ConditionUplinkReady)
	if !f.link(t, br).Up() {
		t.Errorf("%s is not up", br)
	}
	if !has {
		if res.Missing[plan.CapBonding] == "" {
			t.Errorf("missing capabilities %v, want bonding", res.Missing)
		}
		if up == nil || up.Status != metav1.ConditionFalse || up.Reason != status.ReasonUnsupported || !strings.Contains(up.Message, "CONFIG_BONDING") || !strings.Contains(up.Message, "eth1, eth2") {
			t.Errorf("UplinkReady = %+v, want False/Unsupported naming the bond's NICs and the missing driver", up)
		}
		for _, n := range []string{"eth1", "eth2"} {
			if l := f.link(t, n); l.Master != "" || !l.Up() || l.MTU != 1500 {
				t.Errorf("%s: master %q up %v MTU %d, want it untouched", n, l.Master, l.Up(), l.MTU)
			}
		}
		t.Logf("proved: without bonding, UplinkReady %s/%s %q; %s up", up.Status, up.Reason, up.Message, br)
	} else {
		bond := f.link(t, bo)
		if bond.LinkInfo.Kind != "bond" || bond.Master != br || !bond.Up() || bond.MTU != 9000 {
			t.Errorf("%s: kind %q master %q up %v MTU %d, want an up bond on %s at 9000", bo, bond.LinkInfo.Kind, bond.Master, bond.Up(), bond.MTU, br)
		}
		if alias := strings.TrimSpace(f.node.IP(t, "-j", "link", "show", bo)); !strings.Contains(alias, `"ifalias":"harvnet"`) {
			t.Errorf("%s is not marked as harvnet's: %s", bo, alias)
		}
		for _, n := range []string{"eth1", "eth2", br} {
			if l := f.link(t, n); l.MTU != 9000 {
				t.Errorf("%s MTU %d, want 9000", n, l.MTU)
			}
		}
		for _, n := range []string{"eth1", "eth2"} {
			if m := f.link(t, n).Master; m != bo {
				t.Errorf("%s master %q, want %s", n, m, bo)
			}
		}
		if up == nil || up.Status != metav1.ConditionTrue || st.BondState != "up 2/2" || st.MTU != 9000 {
			t.Errorf("UplinkReady %+v, bond state %q, MTU %d; want True, up 2/2, 9000", up, st.BondState, st.MTU)
		}
		if again := f.rec.Reconcile(bondSpec("", 9000, "eth1", "eth2"), true); len(again.Applied) != 0 {
			t.Errorf("second pass applied %v, want nothing", again.Applied)
		}
	}

	f.reconcile(t, desired.Input{})
	if _, ok := f.node.Link(t, bo); ok {
		t.Errorf("%s left after teardown", bo)
	}
	for _, n := range []string{"eth1", "eth2"} {
		if l := f.link(t, n); l.Master != "" || !l.Up() {
			t.Errorf("after teardown %s: master %q up %v, want free and up", n, l.Master, l.Up())
		}
	}
}
