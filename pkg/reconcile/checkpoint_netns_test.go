package reconcile_test

import (
	"bytes"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/reconcile"
	"github.com/harvnet/harvnet/pkg/status"
)

// A corrupt state file leaves harvnet not knowing which NICs are its own
// and what to give back to them. A new agent on such a node must change
// nothing at all, whatever the spec asks, and say why in its result and
// status, until the operator moves the file aside or puts back a good
// copy; the very next pass then carries on.
func TestACorruptStateFileChangesNothingUntilFixed(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(good []byte) []byte
		problem string
		// fix is what the operator does; then is the spec of the pass after.
		fix  func(t *testing.T, path string, good []byte)
		then desired.Input
	}{
		{
			name:    "truncated, then moved aside",
			corrupt: func(good []byte) []byte { return good[:len(good)/2] },
			problem: "it is truncated",
			fix: func(t *testing.T, path string, _ []byte) {
				if err := os.Rename(path, path+".corrupt"); err != nil {
					t.Fatal(err)
				}
			},
			// Without the record the agent starts from what the kernel
			// shows: eth0 on the bridge, as the spec wants.
			then: vlanSpec("eth0"),
		},
		{
			name: "an address changed, then the good copy put back",
			corrupt: func(good []byte) []byte {
				return bytes.Replace(good, []byte("10.11.0.5/24"), []byte("10.11.0.9/24"), 1)
			},
			problem: "checksum mismatch",
			fix: func(t *testing.T, path string, good []byte) {
				if err := os.WriteFile(path, good, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			// With the record back, switching gives eth0 its addresses back.
			then: vlanSpec("eth1"),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			f := crashNode(t)
			f.reconcile(t, vlanSpec("eth0"))
			path := checkpoint.Path(f.dir)
			good, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := c.corrupt(good)
			if bytes.Equal(bad, good) {
				t.Fatal("the corruption changed nothing")
			}
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			snapshot := func() string {
				addrs := bridgeTimers.ReplaceAllString(f.node.IP(t, "-d", "addr"), "$1")
				return addrs + f.node.IP(t, "-d", "route", "show", "table", "all") + f.node.IP(t, "-6", "-d", "route", "show", "table", "all")
			}
			settled(t, f.node)
			before := snapshot()

			rec, err := reconcile.New(f.host, testOpts, f.dir)
			if err != nil {
				t.Fatalf("New() with a corrupt state file: %v", err)
			}
			for _, in := range []desired.Input{vlanSpec(""), vlanSpec("eth1"), {Deleted: true}, vlanSpec("eth0")} {
				res := rec.Reconcile(in, true)
				if res.Checkpoint == nil || res.Checkpoint.Path != path || !strings.Contains(res.Checkpoint.Error(), c.problem) {
					t.Fatalf("spec %+v: Result.Checkpoint = %v, want the corruption of %s (%s)", in.Spec.Network, res.Checkpoint, path, c.problem)
				}
				if len(res.Applied) != 0 || len(res.Steps) != 0 || !res.Failed() || res.Host == nil {
					t.Errorf("spec %+v: applied %v, steps %v, failed %v, host observed %v; want only an observation, failed", in.Spec.Network, res.Applied, res.Steps, res.Failed(), res.Host != nil)
				}
				if after := snapshot(); after != before {
					t.Fatalf("spec %+v changed the host:\nbefore:\n%s\nafter:\n%s", in.Spec.Network, before, after)
				}
				conds := status.Build(res, testOpts, 1).Conditions
				for _, typ := range []string{v1alpha1.ConditionReady, v1alpha1.ConditionUplinkReady} {
					cond := meta.FindStatusCondition(conds, typ)
					if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != status.ReasonCheckpointCorrupt ||
						!strings.Contains(cond.Message, path) || !strings.Contains(cond.Message, "mv "+path) {
						t.Errorf("%s = %+v, want False/%s naming %s and how to move it aside", typ, cond, status.ReasonCheckpointCorrupt, path)
					}
				}
			}
			if now, _ := os.ReadFile(path); !bytes.Equal(now, bad) {
				t.Errorf("the agent rewrote the corrupt file:\n%s", now)
			}

			c.fix(t, path, good)
			f.rec = rec
			res := f.reconcile(t, c.then)
			if res.Checkpoint != nil {
				t.Fatalf("after the fix: Result.Checkpoint = %v", res.Checkpoint)
			}
			if msg := reachable(t, f.node); msg != "" {
				t.Errorf("after the fix: %s", msg)
			}
			if want := c.then.Spec.Network.NIC; f.link(t, want).Master != br {
				t.Errorf("after the fix: %s is not enslaved to %s", want, br)
			}
			if c.then.Spec.Network.NIC != "eth0" {
				if eth0 := f.link(t, "eth0"); eth0.Master != "" {
					t.Errorf("after the fix: eth0 is still enslaved to %s", eth0.Master)
				}
			}
		})
	}
}

// bridgeTimers are the running timers `ip -d` shows for a bridge and its
// ports (gc_timer, forward_delay_timer, ...): they tick by themselves.
var bridgeTimers = regexp.MustCompile(`(\w+_timer)\s+[0-9.]+`)

// settled waits until nothing in the node changes by itself: the bridge
// has carrier and no address is still tentative (the bridge's link-local
// address goes through duplicate address detection).
func settled(t *testing.T, node *nt.Node) {
	t.Helper()
	nt.Eventually(t, 10*time.Second, func() string {
		if l, ok := node.Link(t, br); !ok || l.OperState != "UP" {
			return br + " has no carrier yet"
		}
		if out := node.IP(t, "addr"); strings.Contains(out, "tentative") {
			return "addresses still tentative:\n" + out
		}
		return ""
	})
}
