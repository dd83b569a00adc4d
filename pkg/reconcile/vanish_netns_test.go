package reconcile_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// hookHost runs hook once, right after its first `after` actions.
type hookHost struct {
	reconcile.Host
	after int
	hook  func()
}

func (h *hookHost) Apply(a plan.Action) error {
	err := h.Host.Apply(a)
	if h.after--; h.after == 0 {
		h.hook()
	}
	return err
}

var mgmtAddrs = []string{"10.11.0.5/24", "fd00:11::5/64"}

// Fault family 5, first half: the management NIC disappears (its veth is
// deleted) after each action of its enslave in turn. Whenever it goes: no
// panic; the next pass says the NIC disappeared, takes whatever copies of
// its addresses and routes reached the bridge off it (none is left
// half-moved), and then changes nothing; and when a NIC of that name comes
// back it gets the addresses and routes the state file kept.
func TestFamily5NICVanishesMidEnslave(t *testing.T) {
	probe := newFixture(t)
	probe.node.AddManagementNIC(t, "eth0")
	total := len(probe.reconcile(t, vlanSpec("eth0")).Applied)
	if total < 5 {
		t.Fatalf("the enslave took %d actions", total)
	}
	// Every action on the host kernel; every sixth in the VM, where a node
	// costs seconds under emulation and the kernel adds nothing to this.
	step := 1
	if nt.FullKernel() {
		step = 6
	}
	trials, failures := 0, 0
	for k := 1; k <= total; k += step {
		trials++
		ok := t.Run(fmt.Sprintf("after action %d of %d", k, total), func(t *testing.T) {
			f := newFixture(t)
			f.node.AddManagementNIC(t, "eth0")
			dir := t.TempDir()
			hook := &hookHost{Host: f.host, after: k, hook: func() { f.node.IP(t, "link", "del", "eth0") }}
			rec, err := reconcile.New(hook, testOpts, dir)
			if err != nil {
				t.Fatal(err)
			}
			rec.Reconcile(vlanSpec("eth0"), true) // fails part way: the NIC went

			res := rec.Reconcile(vlanSpec("eth0"), true)
			if res.Invalid == nil || res.Invalid.Reason != reconcile.ReasonNICVanished {
				t.Fatalf("after the NIC went: invalid %+v, want %s", res.Invalid, reconcile.ReasonNICVanished)
			}
			if !strings.Contains(res.Invalid.Message, `"eth0"`) || !strings.Contains(res.Invalid.Message, "disappeared") {
				t.Errorf("message %q does not say eth0 disappeared", res.Invalid.Message)
			}
			for _, s := range res.Steps {
				if s.Err != nil {
					t.Errorf("taking the copies off failed: %v", s.Err)
				}
			}
			if l, ok := f.node.Link(t, br); ok {
				for _, a := range l.GlobalAddrs() {
					if slices.Contains(mgmtAddrs, a) {
						t.Errorf("the bridge still holds eth0's %s", a)
					}
				}
				for _, fam := range []string{"-4", "-6"} {
					if hasRoute(f.node.Routes(t, fam, br), "default") {
						t.Errorf("the bridge still holds eth0's %s default route", fam)
					}
				}
			}
			if again := rec.Reconcile(vlanSpec("eth0"), true); len(again.Applied) != 0 || again.Invalid == nil {
				t.Errorf("a pass after that acted: %v (invalid %+v)", again.Applied, again.Invalid)
			}

			// The NIC comes back, empty: it is enslaved and the bridge
			// gets the configuration the state file kept.
			f.node.AddNIC(t, "eth0")
			if back := rec.Reconcile(vlanSpec("eth0"), true); back.Invalid != nil || back.Err != nil {
				t.Fatalf("NIC back: invalid %+v err %v", back.Invalid, back.Err)
			}
			if m := f.link(t, "eth0").Master; m != br {
				t.Errorf("eth0 back: master %q, want %s", m, br)
			}
			if got := f.link(t, br).GlobalAddrs(); !slices.Equal(got, mgmtAddrs) && k > 3 {
				// Before its first address was copied (the bridge's own
				// actions come first) nothing of eth0 was recorded.
				t.Errorf("eth0 back: bridge holds %v, want %v", got, mgmtAddrs)
			}
		})
		if !ok {
			failures++
		}
	}
	line := fmt.Sprintf("family 5: trials=%d failures=%d worst-gap=n/a (NIC deleted after each action of its enslave)", trials, failures)
	t.Log(line)
	fmt.Println(line)
}

// Fault family 5, second half: the enslaved management NIC is renamed
// (down, renamed, up, as udev or an admin does). The node's network stays
// as it was; the spec's NIC is reported renamed, naming the new name, and
// nothing is changed; once the spec names the new name it converges with
// nothing to do but the DHCP broute rules (where the kernel has them),
// which name the NIC, and the record follows it, so a teardown gives it the
// management addresses back.
func TestFamily5NICRenamedWhileEnslaved(t *testing.T) {
	f := newFixture(t)
	f.node.AddManagementNIC(t, "eth0")
	f.reconcile(t, vlanSpec("eth0"))
	f.node.IP(t, "link", "set", "eth0", "down")
	f.node.IP(t, "link", "set", "eth0", "name", "eth9")
	f.node.IP(t, "link", "set", "eth9", "up")
	waitOperUp(t, f, "eth9")
	waitOperUp(t, f, br)
	snapshot := func() string {
		return f.node.IP(t, "-o", "link") + f.node.IP(t, "-o", "addr", "show", "scope", "global") + f.node.IP(t, "route") + f.node.IP(t, "-6", "route")
	}
	before := snapshot()
	res := f.rec.Reconcile(vlanSpec("eth0"), true)
	failures := 0
	if res.Invalid == nil || res.Invalid.Reason != reconcile.ReasonNICRenamed || !strings.Contains(res.Invalid.Message, `"eth9"`) {
		failures++
		t.Errorf("invalid %+v, want %s naming eth9", res.Invalid, reconcile.ReasonNICRenamed)
	}
	if after := snapshot(); len(res.Applied) != 0 || after != before {
		failures++
		t.Errorf("a renamed uplink changed the host: %v\nbefore:\n%s\nafter:\n%s", res.Applied, before, after)
	}
	if got := f.link(t, br).GlobalAddrs(); !slices.Equal(got, mgmtAddrs) {
		failures++
		t.Errorf("bridge holds %v, want %v", got, mgmtAddrs)
	}
	// Only the DHCP broute rules, which name the NIC, follow the new name.
	for _, a := range f.reconcile(t, vlanSpec("eth9")).Applied {
		if a.Op != plan.AddDHCPRule && a.Op != plan.DelDHCPRule {
			failures++
			t.Errorf("the spec naming the new name acted: %v", a)
		}
	}
	f.reconcile(t, desired.Input{Deleted: true})
	if got := f.link(t, "eth9").GlobalAddrs(); !slices.Equal(got, mgmtAddrs) {
		failures++
		t.Errorf("after teardown eth9 holds %v, want %v", got, mgmtAddrs)
	}
	line := fmt.Sprintf("family 5: trials=1 failures=%d worst-gap=n/a (NIC renamed while enslaved)", failures)
	t.Log(line)
	fmt.Println(line)
}
