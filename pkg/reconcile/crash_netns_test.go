package reconcile_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostnet"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

var errCrashed = errors.New("the agent died here")

// crashingHost applies its first `left` actions and then none, like an
// agent killed at that point; reading the host still works.
type crashingHost struct {
	reconcile.Host
	left    int
	crashed bool
}

func (c *crashingHost) Apply(a plan.Action) error {
	if c.left == 0 {
		c.crashed = true
		return errCrashed
	}
	c.left--
	return c.Host.Apply(a)
}

// An agent may die between any two actions. Wherever it dies, the node
// must still answer on its management address, and the next agent (same
// state directory, nothing else carried over) must finish the change and
// leave the node exactly as an uninterrupted run does.
//
// Every scenario runs on the host kernel; the full-kernel VM, where each
// node costs seconds under emulation, runs the one with the most at stake
// (the management NIC onto a vlan_filtering bridge with broute rules).
func TestACrashAtAnyActionIsFinishedByTheNextAgent(t *testing.T) {
	scenarios := []struct {
		name          string
		before, after desired.Input
		inVM          bool
	}{
		{"enslave the management NIC", desired.Input{}, vlanSpec("eth0"), true},
		{"release the management NIC", vlanSpec("eth0"), vlanSpec(""), false},
		{"switch from the management NIC to eth1", vlanSpec("eth0"), vlanSpec("eth1"), false},
		{"switch from eth1 to the management NIC", vlanSpec("eth1"), vlanSpec("eth0"), false},
		{"tear down", vlanSpec("eth0"), desired.Input{Deleted: true}, false},
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			if nt.FullKernel() && !sc.inVM {
				t.Skip("covered on the host kernel; the VM runs the enslave scenario")
			}
			ref := crashNode(t)
			ref.reconcile(t, sc.before)
			n := len(ref.reconcile(t, sc.after).Applied)
			want := shape(t, ref.node)
			for k := range n {
				crashAfter(t, k, n, sc.before, sc.after, want, reachable)
			}
		})
	}
}

// crashAfter is one trial of a crash test: a node changed from before
// towards after by an agent that dies after k of the n actions an
// uninterrupted pass takes; reach says whether the node still answers
// where it died; want is the node as an uninterrupted run leaves it.
func crashAfter(t *testing.T, k, n int, before, after desired.Input, want string, reach func(*testing.T, *nt.Node) string) {
	t.Run(fmt.Sprintf("after %d of %d actions", k, n), func(t *testing.T) {
		t.Parallel()
		f := crashNode(t)
		f.reconcile(t, before)
		ch := &crashingHost{Host: f.host, left: k}
		dying, err := reconcile.New(ch, testOpts, f.dir)
		if err != nil {
			t.Fatal(err)
		}
		dying.Reconcile(after, true)
		if !ch.crashed {
			t.Fatalf("the pass ended within %d actions; an uninterrupted one took %d", k, n)
		}
		if msg := reach(t, f.node); msg != "" {
			t.Errorf("node cut off where the agent died: %s\n%s", msg, shape(t, f.node))
		}
		if f.rec, err = reconcile.New(f.host, testOpts, f.dir); err != nil {
			t.Fatal(err)
		}
		f.reconcile(t, after)
		if got := shape(t, f.node); got != want {
			t.Errorf("the next agent left\n%s\nan uninterrupted run leaves\n%s", got, want)
		}
		if again := f.reconcile(t, after); len(again.Applied) != 0 {
			t.Errorf("a further pass applied %v", again.Applied)
		}
	})
}

type crashFixture struct {
	fixture
	dir string
}

// crashNode is a node with a management NIC eth0 and a spare NIC eth1.
func crashNode(t *testing.T) *crashFixture {
	t.Helper()
	node := nt.NewNode(t)
	node.AddManagementNIC(t, "eth0")
	node.AddNIC(t, "eth1")
	host, err := hostnet.New(node.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	f := &crashFixture{fixture: fixture{node: node, host: host}, dir: t.TempDir()}
	if f.rec, err = reconcile.New(host, testOpts, f.dir); err != nil {
		t.Fatal(err)
	}
	return f
}

// reachable says why the node would not answer on 10.11.0.5 with a way
// back through 10.11.0.1, or "". A NIC that is a bridge port hands its
// frames to the bridge, so then the bridge must hold address and route.
func reachable(t *testing.T, node *nt.Node) string {
	t.Helper()
	eth0, _ := node.Link(t, "eth0")
	holder := eth0
	if eth0.Master != "" {
		holder, _ = node.Link(t, eth0.Master)
		if holder.LinkInfo.Kind == "bond" && holder.Master != "" {
			// A bond's slave: the bond hands its frames to its bridge.
			holder, _ = node.Link(t, holder.Master)
		}
		if holder.Master != "" {
			return "eth0's master is itself a port"
		}
	}
	if !holder.Up() || !strings.Contains(fmt.Sprint(holder.GlobalAddrs()), "10.11.0.5/24") {
		return fmt.Sprintf("%s (up %v) does not hold 10.11.0.5/24", holder.Name, holder.Up())
	}
	if !hasRoute(node.Routes(t, "-4", holder.Name), "default via 10.11.0.1") {
		return "no default route via 10.11.0.1 on " + holder.Name
	}
	return ""
}

// shape is what the node's links and routes look like, without what
// differs between two nodes (MACs, indexes, link-local addresses).
func shape(t *testing.T, node *nt.Node) string {
	t.Helper()
	var b strings.Builder
	macs := map[string]string{}
	for _, name := range []string{"eth0", "eth1", bo, br} {
		l, ok := node.Link(t, name)
		if !ok {
			fmt.Fprintf(&b, "%s: absent\n", name)
			continue
		}
		macs[l.Address] += name
		fmt.Fprintf(&b, "%s: master=%q up=%v mtu=%d addrs=%v\n", name, l.Master, l.Up(), l.MTU, sorted(l.GlobalAddrs()))
	}
	// Whole tables: `ip route show dev X` leaves out multipath routes.
	for _, fam := range []string{"-4", "-6"} {
		for _, r := range strings.Split(node.IP(t, fam, "route", "show"), "\n") {
			// linkdown follows the bridge's carrier, which the kernel
			// updates asynchronously: state, not configuration.
			r = strings.Join(slices.DeleteFunc(strings.Fields(r), func(f string) bool { return f == "linkdown" }), " ")
			if r != "" && !strings.HasPrefix(r, "fe80::") {
				fmt.Fprintf(&b, "  %s\n", r)
			}
		}
	}
	if l, ok := node.Link(t, br); ok {
		fmt.Fprintf(&b, "%s MAC shared with: %s\n", br, strings.TrimPrefix(macs[l.Address], br))
	}
	return b.String()
}
