package monitor

import (
	"bytes"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/metrics"
)

// capture is what both decoders made of the same kernel events: netlink's
// whole decode on its three subscriptions (what the monitor used before),
// and the monitor's own socket, raw, decoded by parse.go.
type capture struct {
	mu sync.Mutex
	// netlink's, one list per subscription
	links  []netlink.LinkUpdate
	addrs  []netlink.AddrUpdate
	routes []netlink.RouteUpdate
	// the monitor socket's messages (copies), in the kernel's order
	raw [][]byte
	// how many of raw are links, addresses, routes
	nLinks, nAddrs, nRoutes int
}

func (c *capture) counts() (l, a, r, nl, na, nr int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.links), len(c.addrs), len(c.routes), c.nLinks, c.nAddrs, c.nRoutes
}

// startCapture subscribes both ways in n until the test ends.
func startCapture(t *testing.T, n *nt.NS) *capture {
	t.Helper()
	ns := netns.NsHandle(n.Fd())
	c := &capture{}
	done := make(chan struct{})
	linkCh, addrCh, routeCh := make(chan netlink.LinkUpdate), make(chan netlink.AddrUpdate), make(chan netlink.RouteUpdate)
	onErr := func(err error) {
		select {
		case <-done:
		default:
			// netlink skips (and reports) a message from a process rather
			// than the kernel, as the monitor's socket does.
			if !strings.HasPrefix(err.Error(), "Wrong sender portid") {
				t.Errorf("netlink subscription: %v", err)
			}
		}
	}
	if err := netlink.LinkSubscribeWithOptions(linkCh, done, netlink.LinkSubscribeOptions{Namespace: &ns, ErrorCallback: onErr, ListExisting: true, ReceiveBufferSize: DefaultReceiveBuffer, ReceiveBufferForceSize: true}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrCh, done, netlink.AddrSubscribeOptions{Namespace: &ns, ErrorCallback: onErr, ReceiveBufferSize: DefaultReceiveBuffer, ReceiveBufferForceSize: true}); err != nil {
		t.Fatal(err)
	}
	if err := netlink.RouteSubscribeWithOptions(routeCh, done, netlink.RouteSubscribeOptions{Namespace: &ns, ErrorCallback: onErr, ReceiveBufferSize: DefaultReceiveBuffer, ReceiveBufferForceSize: true}); err != nil {
		t.Fatal(err)
	}
	s, err := subscribe(ns, DefaultReceiveBuffer, true)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		for u := range linkCh {
			c.mu.Lock()
			c.links = append(c.links, u)
			c.mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for u := range addrCh {
			c.mu.Lock()
			c.addrs = append(c.addrs, u)
			c.mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for u := range routeCh {
			c.mu.Lock()
			c.routes = append(c.routes, u)
			c.mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for {
			b, err := s.receive()
			if err != nil {
				onErr(err)
				return
			}
			it := messages{b}
			for {
				m, ok, err := it.next()
				if err != nil {
					t.Errorf("the kernel's datagram: %v", err)
				}
				if !ok || err != nil {
					break
				}
				c.mu.Lock()
				c.raw = append(c.raw, slices.Clone(m.raw))
				switch m.typ {
				case unix.RTM_NEWLINK, unix.RTM_DELLINK:
					c.nLinks++
				case unix.RTM_NEWADDR, unix.RTM_DELADDR:
					c.nAddrs++
				case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
					c.nRoutes++
				}
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		close(done)
		s.close()
		wg.Wait()
	})
	return c
}

// The monitor's decoders read what netlink's whole decode read, from the
// real kernel's messages, and the filter decides the same for each event:
// a VM's veth, its bridge port notifications, a tap, a rename, addresses,
// routes (multipath too), deletions. Every message is also cut at every
// length: an error or a whole shorter message, never a panic.
func TestDecodeEqualsNetlinkDecode(t *testing.T) {
	n := nt.NewNS(t)
	// Without DAD an address is final when added: no late change of its
	// flags races the end of the capture.
	n.Sysctl(t, "net.ipv6.conf.default.accept_dad", "0")
	c := startCapture(t, n)
	for _, cmd := range [][]string{
		{"link", "add", "br0", "type", "bridge"},
		{"link", "set", "br0", "up"},
		{"link", "add", "vm0", "type", "veth", "peer", "name", "vm0p"},
		{"link", "set", "vm0", "master", "br0"}, // bridge port notifications
		{"link", "set", "vm0", "up"},
		{"link", "set", "vm0p", "up"},
		{"tuntap", "add", "mode", "tap", "dev", "tap0"},
		{"link", "set", "tap0", "master", "br0", "up"},
		{"addr", "add", "10.9.0.1/24", "dev", "br0"},
		{"addr", "add", "10.8.0.1/24", "dev", "vm0p"},
		{"route", "add", "203.0.113.0/24", "nexthop", "via", "10.9.0.2", "dev", "br0", "nexthop", "via", "10.8.0.2", "dev", "vm0p"},
		{"-6", "route", "add", "2001:db8:1::/64", "nexthop", "via", "fe80::2", "dev", "br0", "nexthop", "via", "fe80::3", "dev", "vm0p"},
		{"route", "add", "198.51.100.0/24", "via", "10.9.0.3", "dev", "br0"},
		{"link", "set", "vm0p", "down"},
		{"link", "set", "vm0p", "name", "renamed"}, // a rename
		{"link", "set", "vm0", "nomaster"},
		{"link", "del", "tap0"},
		{"link", "del", "vm0"}, // and its peer
		{"link", "add", "end0", "type", "veth", "peer", "name", "end1"},
		{"addr", "add", "192.0.2.99/32", "dev", "end0"}, // its local route ends the route list
	} {
		n.IP(t, cmd...)
	}
	// netlink names a GRE or VTI tunnel's kind by its local address. Where
	// the kernel has these tunnels their real events are compared too; the
	// host's and the VM tier's kernels here load none (their fallback
	// devices would appear in every namespace of every test), so
	// TestParseLink covers them, against netlink's decode of the same bytes.
	wantKinds := []string{"device", "bridge", "veth", "tuntap"}
	for _, tun := range [][]string{
		{"gt4", "gretap", "local", "192.0.2.1", "remote", "192.0.2.2"},
		{"gt6", "ip6gretap", "local", "2001:db8::1", "remote", "2001:db8::2"},
		{"gr4", "gre", "local", "192.0.2.1", "remote", "192.0.2.4"},
		{"vt4", "vti", "local", "192.0.2.1", "remote", "192.0.2.3"},
		{"vt6", "vti6", "local", "2001:db8::1", "remote", "2001:db8::3"},
	} {
		out, err := exec.Command("ip", append([]string{"-n", n.Name, "link", "add", tun[0], "type"}, tun[1:]...)...).CombinedOutput()
		if err != nil {
			t.Logf("no %s tunnel on this kernel (%s): not compared", tun[1], strings.TrimSpace(string(out)))
			continue
		}
		n.IP(t, "link", "del", tun[0])
		wantKinds = append(wantKinds, tun[1])
	}
	end, _ := n.Link(t, "end0")
	// Both ways got every event: netlink's lists hold the last ones, and
	// the socket's as many of each.
	nt.Eventually(t, 10*time.Second, func() string {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch {
		case !slices.ContainsFunc(c.links, func(u netlink.LinkUpdate) bool { return u.Attrs().Index == end.Index }):
			return fmt.Sprintf("netlink has no link event of end0 (%d link events)", len(c.links))
		case !slices.ContainsFunc(c.addrs, func(u netlink.AddrUpdate) bool { return u.LinkIndex == end.Index }):
			return fmt.Sprintf("netlink has no address event of end0 (%d address events)", len(c.addrs))
		case !slices.ContainsFunc(c.routes, func(u netlink.RouteUpdate) bool { return u.LinkIndex == end.Index }):
			return fmt.Sprintf("netlink has no route event of end0 (%d route events)", len(c.routes))
		case len(c.links) != c.nLinks || len(c.addrs) != c.nAddrs || len(c.routes) != c.nRoutes:
			return fmt.Sprintf("netlink got %d link, %d address, %d route events; the monitor's socket %d, %d, %d", len(c.links), len(c.addrs), len(c.routes), c.nLinks, c.nAddrs, c.nRoutes)
		}
		return ""
	})
	c.mu.Lock()
	links, addrs, routes, raw := slices.Clone(c.links), slices.Clone(c.addrs), slices.Clone(c.routes), slices.Clone(c.raw)
	c.mu.Unlock()

	// The same decode, message by message; and the filter's decisions,
	// by a monitor fed netlink's decode and one fed the raw messages, in
	// the kernel's order.
	filter := func(name, kind string) bool { return name == "br0" || kind == "device" && name != "lo" }
	old, cur := New(netns.None(), filter), New(netns.None(), filter)
	old.WithMetrics(metrics.NewAgent(prometheus.NewRegistry()))
	cur.WithMetrics(metrics.NewAgent(prometheus.NewRegistry()))
	decided := func(m *Monitor, feed func()) string {
		seen, ignored := m.Stats()
		feed()
		s, i := m.Stats()
		switch {
		case s != seen+1:
			return fmt.Sprintf("%d events counted", s-seen)
		case i != ignored:
			return "ignored"
		}
		return "relevant"
	}
	var li, ai, ri int
	seenKinds := map[string]bool{}
	var bridgePorts, deletions, multipath, renames int
	names := map[int]string{}
	for _, msg := range raw {
		m, _, _ := (&messages{msg}).next()
		var want, got string
		switch m.typ {
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			u := links[li]
			li++
			l, err := parseLink(m.typ, m.data)
			if err != nil {
				t.Fatalf("a link message from the kernel: %v", err)
			}
			a := u.Attrs()
			if l.typ != u.Header.Type || l.family != u.Family || l.index != a.Index || string(l.name) != a.Name || l.kind != u.Type() {
				t.Errorf("link event %d: netlink reads type %d family %d index %d name %q kind %q; the monitor %d %d %d %q %q",
					li, u.Header.Type, u.Family, a.Index, a.Name, u.Type(), l.typ, l.family, l.index, l.name, l.kind)
			}
			want = decided(old, func() { old.onLink(linkUpdate(u.Header.Type, u.Family, u.Link), u.Header.Flags&unix.NLM_F_MULTI == 0) })
			got = decided(cur, func() { cur.onDatagram(msg) })
			seenKinds[l.kind] = true
			switch {
			case l.family == unix.AF_BRIDGE:
				bridgePorts++
			case l.typ == unix.RTM_DELLINK:
				deletions++
			case names[l.index] != "" && names[l.index] != string(l.name):
				renames++
			}
			names[l.index] = string(l.name)
			noPanicOnPrefixes(t, msg, func(b []byte) error { _, err := parseLink(m.typ, b); return err })
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			u := addrs[ai]
			ai++
			idx, err := parseAddr(m.data)
			if err != nil {
				t.Fatalf("an address message from the kernel: %v", err)
			}
			if idx != u.LinkIndex {
				t.Errorf("address event %d: netlink reads link %d, the monitor %d", ai, u.LinkIndex, idx)
			}
			want = decided(old, func() { old.onIndex(u.LinkIndex) })
			got = decided(cur, func() { cur.onDatagram(msg) })
			noPanicOnPrefixes(t, msg, func(b []byte) error { _, err := parseAddr(b); return err })
		case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
			u := routes[ri]
			ri++
			r, err := parseRoute(m.data, nil)
			if err != nil {
				t.Fatalf("a route message from the kernel: %v", err)
			}
			var hops []int
			for _, h := range u.MultiPath {
				hops = append(hops, h.LinkIndex)
			}
			if r.index != u.LinkIndex || !slices.Equal(r.hops, hops) {
				t.Errorf("route event %d (%v): netlink reads link %d hops %v, the monitor %d %v", ri, u.Route, u.LinkIndex, hops, r.index, r.hops)
			}
			if len(hops) > 1 {
				multipath++
			}
			want = decided(old, func() { old.onRoute(routeMsg{index: u.LinkIndex, hops: hops}) })
			got = decided(cur, func() { cur.onDatagram(msg) })
			noPanicOnPrefixes(t, msg, func(b []byte) error { _, err := parseRoute(b, nil); return err })
		default:
			continue
		}
		if got != want {
			t.Errorf("message %d (type %d): decided %s, with netlink's decode %s", li+ai+ri, m.typ, got, want)
		}
	}
	if !maps.Equal(old.KnownLinks(), cur.KnownLinks()) {
		t.Errorf("link tables differ: with netlink's decode %v, the monitor's %v", old.KnownLinks(), cur.KnownLinks())
	}
	oldTaken, _ := old.Take()
	curTaken, _ := cur.Take()
	slices.Sort(oldTaken)
	slices.Sort(curTaken)
	if !slices.Equal(oldTaken, curTaken) {
		t.Errorf("Take names %v, with netlink's decode %v", curTaken, oldTaken)
	}
	// The capture must hold what this test is about.
	for _, k := range wantKinds {
		if !seenKinds[k] {
			t.Errorf("no %s among the link events (kinds %v)", k, seenKinds)
		}
	}
	if bridgePorts == 0 || deletions == 0 || renames == 0 || multipath < 2 {
		t.Errorf("the capture lacks events: %d bridge port notifications, %d deletions, %d renames, %d multipath routes", bridgePorts, deletions, renames, multipath)
	}
	t.Logf("%d link, %d address, %d route events compared; %d bridge port notifications, %d deletions, %d renames, %d multipath routes", li, ai, ri, bridgePorts, deletions, renames, multipath)
}

// A VM port's link event, as the storm of BENCHMARKS.md figure 3 makes
// thousands of: a tap put on a bridge and up, from the real kernel. Whole,
// as netlink's subscription decoded each (a copy of the datagram, the
// message split out, every attribute decoded), against the fields the
// monitor reads.
func BenchmarkLinkEvent(b *testing.B) {
	n := nt.NewNS(b)
	s, err := subscribe(netns.NsHandle(n.Fd()), DefaultReceiveBuffer, true)
	if err != nil {
		b.Fatal(err)
	}
	defer s.close()
	n.IP(b, "link", "add", "br0", "type", "bridge")
	n.IP(b, "tuntap", "add", "mode", "tap", "dev", "vm0")
	n.IP(b, "link", "set", "vm0", "master", "br0", "up")
	var msg []byte
	for msg == nil {
		d, err := s.receive()
		if err != nil {
			b.Fatal(err)
		}
		for it := (messages{d}); ; {
			m, ok, err := it.next()
			if err != nil || !ok {
				break
			}
			if m.typ != unix.RTM_NEWLINK {
				continue
			}
			if l, err := parseLink(m.typ, m.data); err == nil && string(l.name) == "vm0" && l.family == unix.AF_UNSPEC && l.kind == "tuntap" && bytes.Contains(m.data, []byte("bridge\x00")) {
				msg = slices.Clone(m.raw)
			}
		}
	}
	b.Logf("a tap's RTM_NEWLINK on a bridge: %d bytes", len(msg))
	b.Run("netlink.LinkDeserialize", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			cp := make([]byte, len(msg))
			copy(cp, msg)
			msgs, err := syscall.ParseNetlinkMessage(cp)
			if err != nil {
				b.Fatal(err)
			}
			hdr := unix.NlMsghdr(msgs[0].Header)
			l, err := netlink.LinkDeserialize(&hdr, msgs[0].Data)
			if err != nil || l.Type() != "tuntap" {
				b.Fatal(l, err)
			}
		}
	})
	// The whole of the monitor's work for the event: decode, table, filter,
	// Take's set, counters (the link is known after the first round, as a
	// VM port is after its first event).
	b.Run("Monitor.onDatagram", func(b *testing.B) {
		m := New(netns.None(), func(name, kind string) bool { return name == "br0" || kind == "device" })
		b.ReportAllocs()
		for range b.N {
			m.onDatagram(msg)
		}
		if seen, ignored := m.Stats(); seen != uint64(b.N) || ignored != uint64(b.N) {
			b.Fatalf("%d events, %d ignored; want %d of each", seen, ignored, b.N)
		}
	})
	b.Run("parseLink", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			m, _, err := (&messages{msg}).next()
			if err != nil {
				b.Fatal(err)
			}
			l, err := parseLink(m.typ, m.data)
			if err != nil || l.kind != "tuntap" {
				b.Fatal(l, err)
			}
		}
	})
}
