package hostnet

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// A scoped read given the links that changed must be exactly what a full
// read says, on the real kernel, through every kind of change an event
// pass meets: addresses, links created, deleted and renamed, multipath
// routes, MTU, a bridge deleted under its ports, the bridge's own
// addresses and routes (read again only when named). Two hosts on one
// namespace: one only ever reads scoped after its first read, the other
// reads everything, so no full read can mend a wrong scoped one.
func TestObserveScopedMatchesFullRead(t *testing.T) {
	n := nt.NewNS(t)
	for _, c := range [][]string{
		{"link", "add", "br0", "type", "bridge"},
		{"link", "add", "nic0", "type", "veth", "peer", "name", "nic0p"},
		{"link", "set", "nic0", "master", "br0"},
		{"link", "add", "other", "type", "veth", "peer", "name", "otherp"},
		{"addr", "add", "192.0.2.10/24", "dev", "br0"},
		{"addr", "add", "198.51.100.10/24", "dev", "other"},
	} {
		n.IP(t, c...)
	}
	for i := 0; i < 5; i++ {
		vm := fmt.Sprintf("vm%d", i)
		n.IP(t, "link", "add", vm, "type", "veth", "peer", "name", vm+"p")
		n.IP(t, "link", "set", vm, "master", "br0")
	}
	for _, l := range []string{"br0", "nic0", "nic0p", "other", "otherp", "vm0", "vm1", "vm2", "vm3", "vm4", "vm0p", "vm1p", "vm2p", "vm3p", "vm4p"} {
		n.IP(t, "link", "set", l, "up")
	}
	n.IP(t, "route", "add", "default", "via", "192.0.2.1", "dev", "br0")

	scoped, err := New(n.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer scoped.Close()
	full, err := New(n.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	if _, err := scoped.Observe(); err != nil {
		t.Fatal(err)
	}
	if _, err := scoped.strictReader(); err != nil {
		t.Fatalf("this kernel cannot filter dumps by link: %v", err)
	}
	idx := func(name string) int {
		l, ok := n.Link(t, name)
		if !ok {
			t.Fatalf("no link %s", name)
		}
		return l.Index
	}
	names := []string{"br0", "nic0"} // what the reconciler always reads
	var gone []int

	steps := []struct {
		what    string
		change  func() []int // makes the change, returns the links it touched
		extra   []string     // names read besides the reconciler's own
		touched []string     // names the pass itself changed
		noMatch bool         // the scope misses a change on purpose
	}{
		// The reconciler's own links are read again as links on every
		// pass, and whole only when an event named them, the pass
		// changed them, or they are not as last read: a change to their
		// addresses or routes that no event named is missed (the
		// monitor names the link of every address and route event).
		// First, while no earlier step has named the bridge.
		{what: "an address on the bridge, not named", noMatch: true, change: func() []int {
			n.IP(t, "addr", "add", "192.0.2.20/24", "dev", "br0")
			return nil
		}},
		{what: "the address on the bridge, changed by the pass", touched: []string{"br0"}, change: func() []int { return nil }},
		{what: "a route on the bridge, not named", noMatch: true, change: func() []int {
			n.IP(t, "route", "add", "10.20.0.0/16", "via", "192.0.2.1", "dev", "br0")
			return nil
		}},
		{what: "the route on the bridge, named", change: func() []int { return []int{idx("br0")} }},
		{what: "an address on a VM port", change: func() []int {
			n.IP(t, "addr", "add", "10.9.9.9/24", "dev", "vm2")
			return []int{idx("vm2")}
		}},
		{what: "a deleted VM port, not named", noMatch: true, change: func() []int {
			gone = []int{idx("vm3"), idx("vm3p")}
			n.IP(t, "link", "del", "vm3")
			return nil
		}},
		{what: "the deleted VM port, named", change: func() []int { return gone }},
		{what: "a new VM port", change: func() []int {
			n.IP(t, "link", "add", "vm9", "type", "veth", "peer", "name", "vm9p")
			n.IP(t, "link", "set", "vm9", "master", "br0", "up")
			return []int{idx("vm9"), idx("vm9p")}
		}},
		{what: "a rename", change: func() []int {
			// The peer's operstate follows (lowerlayerdown while other is
			// down), and its events name it too.
			i := idx("other")
			n.IP(t, "link", "set", "other", "down")
			n.IP(t, "link", "set", "other", "name", "other2")
			n.IP(t, "link", "set", "other2", "up")
			return []int{i, idx("otherp")}
		}},
		{what: "a multipath route", change: func() []int {
			n.IP(t, "route", "add", "203.0.113.0/24", "nexthop", "via", "192.0.2.2", "dev", "br0", "nexthop", "via", "198.51.100.2", "dev", "other2")
			return []int{idx("other2"), idx("br0")} // the monitor names every hop's link
		}},
		{what: "an MTU", change: func() []int {
			n.IP(t, "link", "set", "nic0", "mtu", "1400")
			return nil // nic0 is one of the reconciler's names
		}},
		{what: "an address on an uplink that went down, by name only", change: func() []int {
			// Down takes its IPv6 link-local address and route: a link
			// not as last read is read whole. Its peer's carrier follows,
			// and events name the peer.
			n.IP(t, "link", "set", "nic0", "down")
			return []int{idx("nic0p")}
		}},
		{what: "a bridge created by name only", extra: []string{"br1"}, change: func() []int {
			n.IP(t, "link", "add", "br1", "type", "bridge")
			return nil
		}},
		{what: "the bridge deleted under its ports", change: func() []int {
			var ports []int
			for _, l := range []string{"nic0", "vm0", "vm1", "vm2", "vm4", "vm9"} {
				ports = append(ports, idx(l))
			}
			n.IP(t, "link", "del", "br0")
			return ports
		}},
	}
	var touched []int
	for _, s := range steps {
		// Links touched in earlier steps stay named: the kernel finishes
		// some of their changes later (a veth's operstate follows its
		// peer's through linkwatch, up to a second on a slow machine),
		// and the monitor names them again when it does.
		touched = append(s.change(), touched...)
		// The kernel finishes some changes after ip returns (IPv6
		// addresses and routes of a link that came up): poll, reading
		// scoped again each time (a scoped read over a scoped read).
		var diff string
		deadline := time.Now().Add(5 * time.Second)
		for {
			got, err := scoped.ObserveScoped(hoststate.Scope{Changed: touched, Touched: s.touched, Names: append(slices.Clone(names), s.extra...)})
			if err != nil {
				t.Fatalf("%s: scoped read: %v", s.what, err)
			}
			want, err := full.Observe()
			if err != nil {
				t.Fatal(err)
			}
			if diff = stateDiff(normalize(got), normalize(want)); diff == "" || s.noMatch || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
		}
		switch {
		case s.noMatch && diff == "":
			t.Fatalf("%s: a scope that misses the change still read it; the comparison cannot tell", s.what)
		case !s.noMatch && diff != "":
			t.Fatalf("%s: scoped read differs from the full read:\n%s", s.what, diff)
		}
	}
}

// normalize orders what the kernel returns in no particular order.
func normalize(st *hoststate.State) *hoststate.State {
	out := st.Copy()
	out.Links = slices.Clone(st.Links)
	for i := range out.Links {
		out.Links[i].Addrs = slices.Clone(out.Links[i].Addrs)
		sort.Slice(out.Links[i].Addrs, func(a, b int) bool {
			return out.Links[i].Addrs[a].Prefix.String() < out.Links[i].Addrs[b].Prefix.String()
		})
		if len(out.Links[i].Addrs) == 0 {
			out.Links[i].Addrs = nil
		}
	}
	out.Routes = slices.Clone(st.Routes)
	sort.Slice(out.Routes, func(a, b int) bool { return fmt.Sprint(out.Routes[a]) < fmt.Sprint(out.Routes[b]) })
	if len(out.PortVLANs) == 0 {
		out.PortVLANs = nil
	}
	return out
}

func stateDiff(got, want *hoststate.State) string {
	if reflect.DeepEqual(got, want) {
		return ""
	}
	var b strings.Builder
	gl, wl := map[int]hoststate.Link{}, map[int]hoststate.Link{}
	for _, l := range got.Links {
		gl[l.Index] = l
	}
	for _, l := range want.Links {
		wl[l.Index] = l
	}
	for i, w := range wl {
		if g, ok := gl[i]; !ok {
			fmt.Fprintf(&b, "missing link %s\n", w.Name)
		} else if !reflect.DeepEqual(g, w) {
			fmt.Fprintf(&b, "link %d:\n got  %+v\n want %+v\n", i, g, w)
		}
	}
	for i, g := range gl {
		if _, ok := wl[i]; !ok {
			fmt.Fprintf(&b, "extra link %s\n", g.Name)
		}
	}
	if !reflect.DeepEqual(got.Routes, want.Routes) {
		fmt.Fprintf(&b, "routes:\n got  %v\n want %v\n", got.Routes, want.Routes)
	}
	if !reflect.DeepEqual(got.PortVLANs, want.PortVLANs) {
		fmt.Fprintf(&b, "port VLANs:\n got  %v\n want %v\n", got.PortVLANs, want.PortVLANs)
	}
	if b.Len() == 0 {
		fmt.Fprintf(&b, "other fields differ:\n got  %+v\n want %+v\n", got, want)
	}
	return b.String()
}
