package monitor

import (
	"encoding/binary"
	"net"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The messages below are laid out as the kernel lays them out (built with
// netlink's own request helpers); parse_netns_test.go feeds the decoders
// messages from the real kernel.

// nlMessage is a whole netlink message: header, fixed part, attributes.
func nlMessage(typ uint16, fixed nl.NetlinkRequestData, attrs ...nl.NetlinkRequestData) []byte {
	req := nl.NewNetlinkRequest(int(typ), 0)
	req.AddData(fixed)
	for _, a := range attrs {
		req.AddData(a)
	}
	return req.Serialize()
}

func ifinfo(family uint8, index int32) *nl.IfInfomsg {
	m := nl.NewIfInfomsg(int(family))
	m.Index = index
	return m
}

func name(s string) *nl.RtAttr { return nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(s)) }

// linkinfo nests IFLA_INFO_KIND (when kind is not "") and the data given.
func linkinfo(kind string, data ...*nl.RtAttr) *nl.RtAttr {
	li := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	if kind != "" {
		li.AddRtAttr(nl.IFLA_INFO_KIND, nl.ZeroTerminated(kind))
	}
	if len(data) > 0 {
		d := li.AddRtAttr(nl.IFLA_INFO_DATA, nil)
		for _, a := range data {
			d.AddChild(a)
		}
	}
	return li
}

// Attributes netlink.LinkDeserialize decodes and the monitor skips.
func noise() []nl.NetlinkRequestData {
	return []nl.NetlinkRequestData{
		nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(1500)),
		nl.NewRtAttr(unix.IFLA_ADDRESS, []byte{2, 0, 0, 0, 0, 1}),
		nl.NewRtAttr(unix.IFLA_STATS64, make([]byte, binary.Size(netlink.LinkStatistics64{}))),
		nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(3)),
		nl.NewRtAttr(unix.IFLA_OPERSTATE, []byte{6}),
	}
}

func linkMessage(typ uint16, family uint8, index int32, attrs ...nl.NetlinkRequestData) []byte {
	return nlMessage(typ, ifinfo(family, index), attrs...)
}

// body is a message without its netlink header, as the decoders take it.
func body(m []byte) []byte { return m[unix.SizeofNlMsghdr:] }

func TestParseLink(t *testing.T) {
	v4 := net.ParseIP("192.0.2.1").To4()
	v6 := net.ParseIP("2001:db8::1")
	mapped := net.ParseIP("192.0.2.1") // 16 bytes, an IPv4-mapped address
	greLocal := func(ip net.IP) *nl.RtAttr { return nl.NewRtAttr(nl.IFLA_GRE_LOCAL, ip) }
	for _, tc := range []struct {
		name   string
		msg    []byte
		want   linkMsg // name as a string in wantName
		wantNm string
	}{
		{"a physical NIC has no kind", linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 2, append(noise(), name("eth0"))...),
			linkMsg{typ: unix.RTM_NEWLINK, index: 2, kind: "device"}, "eth0"},
		{"a veth", linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 7, append(noise(), name("vm0"), linkinfo("veth"))...),
			linkMsg{typ: unix.RTM_NEWLINK, index: 7, kind: "veth"}, "vm0"},
		{"a bridge, deleted", linkMessage(unix.RTM_DELLINK, unix.AF_UNSPEC, 3, name("br0"), linkinfo("bridge"), nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(9000))),
			linkMsg{typ: unix.RTM_DELLINK, index: 3, kind: "bridge"}, "br0"},
		{"a tap is a tuntap, as netlink names it", linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 9, name("tap0"), linkinfo("tun")),
			linkMsg{typ: unix.RTM_NEWLINK, index: 9, kind: "tuntap"}, "tap0"},
		{"a bridge port notification", linkMessage(unix.RTM_NEWLINK, unix.AF_BRIDGE, 7, name("vm0"), nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(3)), nl.NewRtAttr(unix.IFLA_PROTINFO|unix.NLA_F_NESTED, nil)),
			linkMsg{typ: unix.RTM_NEWLINK, family: unix.AF_BRIDGE, index: 7, kind: "device"}, "vm0"},
		{"link info without a kind", linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 4, name("eth1"), linkinfo("")),
			linkMsg{typ: unix.RTM_NEWLINK, index: 4, kind: "device"}, "eth1"},
		{"a kind netlink does not know", linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 5, name("x0"), linkinfo("batadv")),
			linkMsg{typ: unix.RTM_NEWLINK, index: 5, kind: "batadv"}, "x0"},
		{"a nameless message", linkMessage(unix.RTM_DELLINK, unix.AF_UNSPEC, 6),
			linkMsg{typ: unix.RTM_DELLINK, index: 6, kind: "device"}, ""},
		{"gretap with an IPv4 local address", linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 10, name("g0"), linkinfo("gretap", greLocal(v4))),
			linkMsg{typ: unix.RTM_NEWLINK, index: 10, kind: "gretap"}, "g0"},
		{"ip6gretap", linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 11, name("g1"), linkinfo("ip6gretap", greLocal(v6))),
			linkMsg{typ: unix.RTM_NEWLINK, index: 11, kind: "ip6gretap"}, "g1"},
		{"gretap without a local address reads as ip6gretap, as in netlink", linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 12, name("g2"), linkinfo("gretap")),
			linkMsg{typ: unix.RTM_NEWLINK, index: 12, kind: "ip6gretap"}, "g2"},
		{"ip6gre with an IPv4-mapped local address reads as gre, as in netlink", linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 13, name("g3"), linkinfo("ip6gre", greLocal(mapped))),
			linkMsg{typ: unix.RTM_NEWLINK, index: 13, kind: "gre"}, "g3"},
		{"vti", linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 14, name("t0"), linkinfo("vti", nl.NewRtAttr(nl.IFLA_VTI_LOCAL, v4))),
			linkMsg{typ: unix.RTM_NEWLINK, index: 14, kind: "vti"}, "t0"},
		{"vti6", linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 15, name("t1"), linkinfo("vti6", nl.NewRtAttr(nl.IFLA_VTI_LOCAL, v6))),
			linkMsg{typ: unix.RTM_NEWLINK, index: 15, kind: "vti6"}, "t1"},
		{"a veth's link data is not read", linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 16, name("vm1"), linkinfo("veth", nl.NewRtAttr(6, v4))),
			linkMsg{typ: unix.RTM_NEWLINK, index: 16, kind: "veth"}, "vm1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			typ := binary.NativeEndian.Uint16(tc.msg[4:6])
			got, err := parseLink(typ, body(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			if string(got.name) != tc.wantNm || got.typ != tc.want.typ || got.family != tc.want.family || got.index != tc.want.index || got.kind != tc.want.kind {
				t.Errorf("got %+v (name %q), want %+v (name %q)", got, got.name, tc.want, tc.wantNm)
			}
			// What the monitor gave its filter before: netlink's whole
			// decode of the same bytes.
			hdr := unix.NlMsghdr{Type: typ}
			l, err := netlink.LinkDeserialize(&hdr, body(tc.msg))
			if err != nil {
				t.Fatalf("netlink cannot decode the test's message: %v", err)
			}
			if a := l.Attrs(); a.Index != got.index || a.Name != string(got.name) || l.Type() != got.kind {
				t.Errorf("netlink reads index %d name %q kind %q, the monitor %d %q %q", a.Index, a.Name, l.Type(), got.index, got.name, got.kind)
			}
			noPanicOnPrefixes(t, tc.msg, func(b []byte) error { _, err := parseLink(typ, b); return err })
		})
	}
}

// noPanicOnPrefixes decodes every prefix of msg's body. A prefix that cuts
// the fixed header or an attribute must be an error; none may panic.
func noPanicOnPrefixes(t *testing.T, msg []byte, decode func([]byte) error) {
	t.Helper()
	b := body(msg)
	for n := 0; n < len(b); n++ {
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("decoding the first %d of %d bytes panicked: %v", n, len(b), r)
				}
			}()
			err := decode(slices.Clip(b[:n]))
			if err == nil && !onBoundary(msg, n) {
				t.Errorf("the first %d of %d bytes cut an attribute, yet decode without an error", n, len(b))
			}
		}()
	}
}

// onBoundary says whether a body cut to n bytes ends right after the
// fixed header or after a top-level attribute (before or in its padding):
// a whole message, if a shorter one.
func onBoundary(msg []byte, n int) bool {
	at := unix.SizeofRtMsg
	switch binary.NativeEndian.Uint16(msg[4:6]) {
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		at = unix.SizeofIfInfomsg
	case unix.RTM_NEWADDR, unix.RTM_DELADDR:
		at = unix.SizeofIfAddrmsg
	}
	if n == at {
		return true
	}
	b := body(msg)
	for at+unix.SizeofRtAttr <= len(b) {
		l := int(binary.NativeEndian.Uint16(b[at : at+2]))
		if n >= at+l && n <= at+align4(l) {
			return true
		}
		at += align4(l)
	}
	return false
}

// withLen is a copy of an attribute (or next hop) whose 16-bit length
// field says l.
func withLen(a []byte, l uint16) []byte {
	a = slices.Clone(a)
	binary.NativeEndian.PutUint16(a[0:2], l)
	return a
}

func TestParseLinkRefusesMalformed(t *testing.T) {
	good := body(linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 7, name("vm0"), linkinfo("veth")))
	attr := func(typ uint16, val []byte) []byte { return nl.NewRtAttr(int(typ), val).Serialize() }
	hdr := good[:unix.SizeofIfInfomsg]
	cat := func(parts ...[]byte) []byte { return slices.Concat(parts...) }
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"shorter than ifinfomsg", good[:10]},
		{"an attribute header cut short", cat(hdr, []byte{8, 0})},
		{"an attribute shorter than its header", cat(hdr, withLen(attr(unix.IFLA_MTU, nl.Uint32Attr(1)), 2))},
		{"an attribute longer than the message", cat(hdr, withLen(attr(unix.IFLA_MTU, nl.Uint32Attr(1)), 64))},
		{"a name without its NUL", cat(hdr, attr(unix.IFLA_IFNAME, []byte("vm0")))},
		{"an empty name", cat(hdr, attr(unix.IFLA_IFNAME, nil))},
		{"an empty kind", cat(hdr, attr(unix.IFLA_LINKINFO, attr(nl.IFLA_INFO_KIND, nil)))},
		{"a kind without its NUL", cat(hdr, attr(unix.IFLA_LINKINFO, attr(nl.IFLA_INFO_KIND, []byte("veth"))))},
		{"link info whose inner attribute overruns it", cat(hdr, attr(unix.IFLA_LINKINFO, withLen(attr(nl.IFLA_INFO_KIND, []byte("veth\x00")), 40)))},
		{"a GRE tunnel's data overrunning it", cat(hdr, attr(unix.IFLA_LINKINFO, cat(attr(nl.IFLA_INFO_KIND, []byte("gre\x00")), attr(nl.IFLA_INFO_DATA, withLen(attr(nl.IFLA_GRE_LOCAL, []byte{1, 2, 3, 4}), 30)))))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panicked: %v", r)
				}
			}()
			if l, err := parseLink(unix.RTM_NEWLINK, tc.b); err == nil {
				t.Errorf("decoded %+v, want an error", l)
			}
		})
	}
}

func rtmsg(family uint8) *nl.RtMsg {
	m := nl.NewRtMsg()
	m.Family = family
	return m
}

// hop is a struct rtnexthop with its attributes.
func hop(ifindex int32, attrs ...*nl.RtAttr) []byte {
	var a []byte
	for _, x := range attrs {
		a = append(a, x.Serialize()...)
	}
	h := make([]byte, unix.SizeofRtNexthop)
	binary.NativeEndian.PutUint16(h[0:2], uint16(unix.SizeofRtNexthop+len(a)))
	binary.NativeEndian.PutUint32(h[4:8], uint32(ifindex))
	return append(h, a...)
}

func TestParseRoute(t *testing.T) {
	gw := nl.NewRtAttr(unix.RTA_GATEWAY, net.ParseIP("192.0.2.2").To4())
	dst := nl.NewRtAttr(unix.RTA_DST, net.ParseIP("198.51.100.0").To4())
	oif := func(i uint32) *nl.RtAttr { return nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(i)) }
	mp := func(hops ...[]byte) *nl.RtAttr { return nl.NewRtAttr(unix.RTA_MULTIPATH, slices.Concat(hops...)) }
	for _, tc := range []struct {
		name  string
		msg   []byte
		index int
		hops  []int
	}{
		{"a route via a device", nlMessage(unix.RTM_NEWROUTE, rtmsg(unix.AF_INET), dst, gw, oif(4)), 4, nil},
		{"a route without a device", nlMessage(unix.RTM_DELROUTE, rtmsg(unix.AF_INET), dst), 0, nil},
		{"a multipath route", nlMessage(unix.RTM_NEWROUTE, rtmsg(unix.AF_INET), dst, mp(hop(4, gw), hop(9, gw))), 0, []int{4, 9}},
		{"an IPv6 multipath route without gateways", nlMessage(unix.RTM_NEWROUTE, rtmsg(unix.AF_INET6), mp(hop(5), hop(6), hop(7))), 0, []int{5, 6, 7}},
		{"an empty multipath", nlMessage(unix.RTM_NEWROUTE, rtmsg(unix.AF_INET), oif(3), mp()), 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseRoute(body(tc.msg), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.index != tc.index || !slices.Equal(got.hops, tc.hops) {
				t.Errorf("got index %d hops %v, want %d %v", got.index, got.hops, tc.index, tc.hops)
			}
			noPanicOnPrefixes(t, tc.msg, func(b []byte) error { _, err := parseRoute(b, nil); return err })
		})
	}
	// A reused buffer is overwritten, not appended to.
	buf := []int{1, 2, 3}
	got, err := parseRoute(body(nlMessage(unix.RTM_NEWROUTE, rtmsg(unix.AF_INET), mp(hop(8)))), buf)
	if err != nil || !slices.Equal(got.hops, []int{8}) {
		t.Errorf("with a used buffer: hops %v, err %v; want [8]", got.hops, err)
	}

	hdr := body(nlMessage(unix.RTM_NEWROUTE, rtmsg(unix.AF_INET)))
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"shorter than rtmsg", hdr[:8]},
		{"a short RTA_OIF", slices.Concat(hdr, nl.NewRtAttr(unix.RTA_OIF, []byte{1, 0}).Serialize())},
		{"a next hop cut short", slices.Concat(hdr, nl.NewRtAttr(unix.RTA_MULTIPATH, hop(4)[:6]).Serialize())},
		{"a next hop shorter than its header", slices.Concat(hdr, nl.NewRtAttr(unix.RTA_MULTIPATH, withLen(hop(4), 0)).Serialize())},
		{"a next hop longer than the list", slices.Concat(hdr, nl.NewRtAttr(unix.RTA_MULTIPATH, withLen(hop(4), 40)).Serialize())},
		{"a next hop's attribute overrunning it", slices.Concat(hdr, nl.NewRtAttr(unix.RTA_MULTIPATH, withLen(hop(4, gw), 14)).Serialize())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panicked: %v", r)
				}
			}()
			if r, err := parseRoute(tc.b, nil); err == nil {
				t.Errorf("decoded %+v, want an error", r)
			}
		})
	}
}

func TestParseAddr(t *testing.T) {
	ifa := nl.NewIfAddrmsg(unix.AF_INET)
	ifa.Index = 12
	msg := nlMessage(unix.RTM_NEWADDR, ifa, nl.NewRtAttr(unix.IFA_ADDRESS, net.ParseIP("192.0.2.1").To4()), nl.NewRtAttr(unix.IFA_LABEL, nl.ZeroTerminated("br0")))
	if got, err := parseAddr(body(msg)); err != nil || got != 12 {
		t.Errorf("got link %d, err %v; want 12", got, err)
	}
	noPanicOnPrefixes(t, msg, func(b []byte) error { _, err := parseAddr(b); return err })
	for _, b := range [][]byte{nil, body(msg)[:7], slices.Concat(body(msg)[:unix.SizeofIfAddrmsg], []byte{9, 0, 1, 0})} {
		if got, err := parseAddr(b); err == nil {
			t.Errorf("%d bytes %x: decoded link %d, want an error", len(b), b, got)
		}
	}
}

func TestMessages(t *testing.T) {
	a := linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 7, name("vm0"))
	ifa := nl.NewIfAddrmsg(unix.AF_INET)
	b := nlMessage(unix.RTM_NEWADDR, ifa)
	two := slices.Concat(a, b)
	it := messages{two}
	var types []uint16
	for {
		m, ok, err := it.next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		if len(m.raw) != unix.SizeofNlMsghdr+len(m.data) {
			t.Errorf("message of %d bytes with %d of data", len(m.raw), len(m.data))
		}
		types = append(types, m.typ)
	}
	if !slices.Equal(types, []uint16{unix.RTM_NEWLINK, unix.RTM_NEWADDR}) {
		t.Errorf("message types %v, want NEWLINK, NEWADDR", types)
	}
	setLen := func(l uint32) []byte {
		c := slices.Clone(two)
		binary.NativeEndian.PutUint32(c[0:4], l)
		return c
	}
	for _, bad := range [][]byte{two[:10], setLen(8), setLen(uint32(len(two) + 4))} {
		it := messages{bad}
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panicked: %v", r)
				}
			}()
			if _, _, err := it.next(); err == nil {
				t.Errorf("%d bytes with length %d: no error", len(bad), binary.NativeEndian.Uint32(bad[0:4]))
			}
		}()
	}
}

// A reply to the monitor's listing of links (NLM_F_MULTI) fills its table
// but names no link for Take: it is not a change, and the Take after a
// subscription says "all" anyway. A notification of the same link does.
func TestListingIsNotAChange(t *testing.T) {
	m := New(netns.None(), func(name, kind string) bool { return name == "br0" })
	listed := linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 3, name("br0"), linkinfo("bridge"))
	binary.NativeEndian.PutUint16(listed[6:8], unix.NLM_F_MULTI)
	m.onDatagram(listed)
	if got := m.KnownLinks(); got[3] != "br0" {
		t.Fatalf("the listing left the table %v, want br0 at 3", got)
	}
	if changed, _ := m.Take(); len(changed) != 0 {
		t.Errorf("Take after the listing names %v, want nothing", changed)
	}
	m.onDatagram(linkMessage(unix.RTM_NEWLINK, unix.AF_UNSPEC, 3, name("br0"), linkinfo("bridge")))
	if changed, _ := m.Take(); !slices.Equal(changed, []int{3}) {
		t.Errorf("Take after a notification names %v, want [3]", changed)
	}
}
