package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
)

// The input join and the Node and absence handlers, against fakes: what
// the loop is handed, and when nothing at all.

type joinFixture struct {
	in   *inputs
	api  *fakeAPI
	core *fakeCore
	got  []string // every input handed to the loop, as in()
	err  error    // the last handler error
}

// in renders an input the loop got, briefly.
func in(i desired.Input) string {
	s := fmt.Sprintf("gen=%d type=%q nic=%q vlans=%v", i.Generation, i.Spec.Network.Type, i.Spec.Network.NIC, i.VLANs)
	if i.Deleted {
		s += " deleted"
	}
	if i.NoNADs != "" {
		s += " nonads"
	}
	return s
}

type jstep func(f *joinFixture)

// seen is the informer handing over this node's object.
func seen(n *v1alpha1.Node) jstep {
	return func(f *joinFixture) { _, f.err = onNode(f.api, f.in, nodeName, n) }
}

// gone is the informer saying the object left the cache.
func gone() jstep {
	return func(f *joinFixture) { _, f.err = onNode(f.api, f.in, nodeName, nil) }
}

func nads(vids ...int) jstep { return func(f *joinFixture) { f.in.vlans(vids, nil) } }

// noNADs is the cluster found to serve no NAD type.
func noNADs() jstep { return func(f *joinFixture) { f.in.noNADs("the cluster serves no NADs") } }

// absentAtStart is the synced cache holding no object, with the core Node
// as core says.
func absentAtStart(core fakeCore) jstep {
	return func(f *joinFixture) {
		*f.core = core
		onAbsent(context.Background(), f.core, nodeName, f.in)
	}
}

func spec(gen int64, typ v1alpha1.NetworkType, nic string, mutate ...func(*v1alpha1.Node)) *v1alpha1.Node {
	n := node("1", mutate...)
	n.Generation = gen
	n.Spec.Network = v1alpha1.NetworkSpec{Type: typ, NIC: nic}
	return n
}

func TestInputJoin(t *testing.T) {
	vlan := v1alpha1.NetworkTypeVLAN
	ours := finalizers(v1alpha1.AgentFinalizer)
	for _, c := range []struct {
		name string
		// nadsPending starts before the NADs were listed (an agent just
		// started); the other cases start with them listed, none there.
		nadsPending bool
		steps       []jstep
		want        []string // inputs handed to the loop, in order
		wantUpdates []string // calls that wrote the object
		wantErr     string
	}{
		{name: "nothing is handed over before the object is seen",
			steps: []jstep{nads(10), nads(10, 20)},
		},
		{name: "NAD VLANs from before the object come with it",
			steps: []jstep{nads(10), nads(10, 20), seen(spec(1, vlan, "eth1", ours))},
			want:  []string{`gen=1 type="vlan" nic="eth1" vlans=[10 20]`},
		},
		{name: "NAD changes after the object are handed over",
			steps: []jstep{seen(spec(1, vlan, "eth1", ours)), nads(10), nads()},
			want:  []string{`gen=1 type="vlan" nic="eth1" vlans=[]`, `gen=1 type="vlan" nic="eth1" vlans=[10]`, `gen=1 type="vlan" nic="eth1" vlans=[]`},
		},
		{name: "an object without the agent's finalizer gets it before its spec is applied",
			steps:       []jstep{seen(spec(1, vlan, "eth1", finalizers("other")))},
			want:        []string{`gen=1 type="vlan" nic="eth1" vlans=[]`},
			wantUpdates: []string{"update finalizers=[other " + v1alpha1.AgentFinalizer + "]"},
		},
		{name: "the finalizer cannot be added: nothing is applied, the handler is retried",
			steps:       []jstep{func(f *joinFixture) { f.api.updateErrs = []error{unavailable()} }, seen(spec(1, vlan, "eth1"))},
			wantUpdates: []string{"update finalizers=[" + v1alpha1.AgentFinalizer + "]"},
			wantErr:     "leader changed",
		},
		{name: "network off: no finalizer is added",
			steps: []jstep{seen(spec(2, "", ""))},
			want:  []string{`gen=2 type="" nic="" vlans=[]`},
		},
		{name: "another node's object is ignored",
			steps: []jstep{seen(spec(1, vlan, "eth1", func(n *v1alpha1.Node) { n.Name = "node2" }))},
		},
		{name: "a deletion timestamp hands over a teardown, the finalizer left for the writer",
			steps: []jstep{nads(10), seen(spec(3, vlan, "eth1", ours, deleting))},
			want:  []string{`gen=3 type="vlan" nic="eth1" vlans=[10] deleted`},
		},
		{name: "an object gone from the cache hands over a teardown of the last spec",
			steps: []jstep{seen(spec(3, vlan, "eth1", ours)), gone()},
			want:  []string{`gen=3 type="vlan" nic="eth1" vlans=[]`, `gen=3 type="vlan" nic="eth1" vlans=[] deleted`},
		},
		{name: "an object made again after a deletion is applied again",
			steps: []jstep{seen(spec(3, vlan, "eth1", ours, deleting)), seen(spec(1, vlan, "eth2", ours))},
			want:  []string{`gen=3 type="vlan" nic="eth1" vlans=[] deleted`, `gen=1 type="vlan" nic="eth2" vlans=[]`},
		},
		{name: "no object but a core Node: tear down what harvnet set up",
			steps: []jstep{nads(10), absentAtStart(fakeCore{exists: true})},
			want:  []string{`gen=0 type="" nic="" vlans=[10] deleted`},
		},
		{name: "no object and no core Node (a mistyped --node-name): nothing, NADs or not",
			steps: []jstep{absentAtStart(fakeCore{}), nads(10), nads(20)},
		},
		{name: "no object and the core Node unreadable: nothing",
			steps: []jstep{absentAtStart(fakeCore{err: unavailable()}), nads(10)},
		},
		{name: "an object seen meanwhile wins over its absence at start",
			steps: []jstep{seen(spec(1, vlan, "eth1", ours)), absentAtStart(fakeCore{exists: true})},
			want:  []string{`gen=1 type="vlan" nic="eth1" vlans=[]`},
		},
		{name: "after a start nothing is handed over until the NADs are listed: the uplink keeps its VLANs",
			nadsPending: true,
			steps:       []jstep{seen(spec(1, vlan, "eth1", ours)), seen(spec(2, vlan, "eth1", ours)), nads(10)},
			want:        []string{`gen=2 type="vlan" nic="eth1" vlans=[10]`},
		},
		{name: "no NAD type served: the node runs without NAD VLANs, saying why, and picks them up when it appears",
			nadsPending: true,
			steps:       []jstep{seen(spec(1, vlan, "eth1", ours)), noNADs(), noNADs(), nads(20)},
			want:        []string{`gen=1 type="vlan" nic="eth1" vlans=[] nonads`, `gen=1 type="vlan" nic="eth1" vlans=[20]`},
		},
		{name: "absent object with NADs not yet known: the teardown waits for them too",
			nadsPending: true,
			steps:       []jstep{absentAtStart(fakeCore{exists: true}), noNADs()},
			want:        []string{`gen=0 type="" nic="" vlans=[] deleted nonads`},
		},
		{name: "an object made after the teardown for its absence is applied",
			steps: []jstep{absentAtStart(fakeCore{exists: true}), seen(spec(1, vlan, "eth1", ours))},
			want:  []string{`gen=0 type="" nic="" vlans=[] deleted`, `gen=1 type="vlan" nic="eth1" vlans=[]`},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := &joinFixture{api: &fakeAPI{}, core: &fakeCore{}}
			f.in = &inputs{set: func(i desired.Input) { f.got = append(f.got, in(i)) }, haveNADs: !c.nadsPending}
			for _, s := range c.steps {
				s(f)
			}
			if !slices.Equal(f.got, c.want) {
				t.Errorf("inputs handed to the loop\n  %q\nwant\n  %q", f.got, c.want)
			}
			if got := f.api.calls(); !slices.Equal(got, c.wantUpdates) {
				t.Errorf("object writes %q, want %q", got, c.wantUpdates)
			}
			switch {
			case c.wantErr == "" && f.err != nil:
				t.Errorf("handler error %v, want none", f.err)
			case c.wantErr != "" && (f.err == nil || !strings.Contains(f.err.Error(), c.wantErr)):
				t.Errorf("handler error %v, want one containing %q", f.err, c.wantErr)
			}
			for _, name := range f.core.asked {
				if name != nodeName {
					t.Errorf("asked for core Node %q, want %q", name, nodeName)
				}
			}
		})
	}
}
