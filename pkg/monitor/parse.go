package monitor

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The monitor decodes only what its filter and Take need from an event:
// a link's index, name and kind, an address's link, a route's links. A
// VM churn storm is thousands of link events the filter ignores, and
// decoding each one whole (netlink.LinkDeserialize: every attribute,
// statistics, link data, for a tap even sysfs reads) was most of what an
// ignored event cost. The decoders are bounds-checked: a short or
// malformed message is an error, never a panic.

var errShort = errors.New("netlink message too short")

// message is one netlink message of a received datagram.
type message struct {
	typ, flags uint16
	data       []byte // after the header
	raw        []byte // the whole message, header and all
}

// messages walks the netlink messages of one datagram.
type messages struct{ b []byte }

// next returns the next message; ok is false at the end, err set when
// what is left is not a whole message.
func (it *messages) next() (m message, ok bool, err error) {
	if len(it.b) == 0 {
		return message{}, false, nil
	}
	if len(it.b) < unix.SizeofNlMsghdr {
		return message{}, false, fmt.Errorf("%w: %d bytes left, a header is %d", errShort, len(it.b), unix.SizeofNlMsghdr)
	}
	l := int(binary.NativeEndian.Uint32(it.b[0:4]))
	if l < unix.SizeofNlMsghdr || l > len(it.b) {
		return message{}, false, fmt.Errorf("netlink message length %d out of range (%d bytes left)", l, len(it.b))
	}
	m = message{
		typ:   binary.NativeEndian.Uint16(it.b[4:6]),
		flags: binary.NativeEndian.Uint16(it.b[6:8]),
		data:  it.b[unix.SizeofNlMsghdr:l],
		raw:   it.b[:l],
	}
	it.b = it.b[min(align4(l), len(it.b)):]
	return m, true, nil
}

func align4(n int) int { return (n + 3) &^ 3 }

// attrs walks route attributes (struct rtattr) without allocating.
type attrs struct{ b []byte }

func (it *attrs) next() (typ uint16, val []byte, ok bool, err error) {
	if len(it.b) == 0 {
		return 0, nil, false, nil
	}
	if len(it.b) < unix.SizeofRtAttr {
		return 0, nil, false, fmt.Errorf("%w: %d trailing bytes, an attribute header is %d", errShort, len(it.b), unix.SizeofRtAttr)
	}
	l := int(binary.NativeEndian.Uint16(it.b[0:2]))
	if l < unix.SizeofRtAttr || l > len(it.b) {
		return 0, nil, false, fmt.Errorf("attribute length %d out of range (%d bytes left)", l, len(it.b))
	}
	typ, val = binary.NativeEndian.Uint16(it.b[2:4]), it.b[unix.SizeofRtAttr:l]
	it.b = it.b[min(align4(l), len(it.b)):]
	return typ, val, true, nil
}

// cString is a NUL-terminated attribute's text, without allocating; it
// must end in NUL, as the kernel's do.
func cString(attr string, v []byte) ([]byte, error) {
	if len(v) == 0 || v[len(v)-1] != 0 {
		return nil, fmt.Errorf("%s is not NUL-terminated", attr)
	}
	return v[:len(v)-1], nil
}

// linkMsg is what the monitor reads of an RTM_NEWLINK or RTM_DELLINK.
type linkMsg struct {
	typ    uint16
	family uint8
	index  int
	// name points into the received datagram: copy it to keep it.
	name []byte
	// kind is what netlink.Link.Type() says of the same message, since
	// that is what the filter has always been given.
	kind string
}

// parseLink decodes an RTM_NEWLINK or RTM_DELLINK message's ifinfomsg
// header, IFLA_IFNAME and IFLA_LINKINFO's kind (and, only for the kinds
// whose Type() depends on it, the tunnel's local address).
func parseLink(typ uint16, data []byte) (linkMsg, error) {
	if len(data) < unix.SizeofIfInfomsg {
		return linkMsg{}, fmt.Errorf("%w: link message of %d bytes, its header is %d", errShort, len(data), unix.SizeofIfInfomsg)
	}
	hdr := nl.DeserializeIfInfomsg(data)
	l := linkMsg{typ: typ, family: hdr.Family, index: int(hdr.Index)}
	var kind []byte
	var local []byte // IFLA_GRE_LOCAL / IFLA_VTI_LOCAL, for the kinds below
	it := attrs{data[unix.SizeofIfInfomsg:]}
	for {
		t, v, ok, err := it.next()
		if err != nil {
			return linkMsg{}, fmt.Errorf("link %d: %w", l.index, err)
		}
		if !ok {
			break
		}
		switch t {
		case unix.IFLA_IFNAME:
			if l.name, err = cString("IFLA_IFNAME", v); err != nil {
				return linkMsg{}, fmt.Errorf("link %d: %w", l.index, err)
			}
		case unix.IFLA_LINKINFO:
			if kind, local, err = parseLinkInfo(v); err != nil {
				return linkMsg{}, fmt.Errorf("link %d: IFLA_LINKINFO: %w", l.index, err)
			}
		}
	}
	l.kind = linkType(kind, local)
	return l, nil
}

// parseLinkInfo returns IFLA_INFO_KIND and, for GRE and VTI tunnels,
// their local address from IFLA_INFO_DATA (which, as for
// netlink.LinkDeserialize, only counts after the kind).
func parseLinkInfo(b []byte) (kind, local []byte, err error) {
	it := attrs{b}
	for {
		t, v, ok, err := it.next()
		if err != nil || !ok {
			return kind, local, err
		}
		switch t {
		case nl.IFLA_INFO_KIND:
			if kind, err = cString("IFLA_INFO_KIND", v); err != nil {
				return nil, nil, err
			}
		case nl.IFLA_INFO_DATA:
			var want uint16
			switch string(kind) {
			case "gretap", "ip6gretap", "gre", "ip6gre":
				want = nl.IFLA_GRE_LOCAL
			case "vti", "vti6":
				want = nl.IFLA_VTI_LOCAL
			default:
				continue
			}
			data := attrs{v}
			for {
				t, v, ok, err := data.next()
				if err != nil {
					return nil, nil, fmt.Errorf("IFLA_INFO_DATA: %w", err)
				}
				if !ok {
					break
				}
				if t == want {
					local = v
				}
			}
		}
	}
}

// linkType names a link's kind as netlink's Link.Type() does: no kind is
// a "device", a tun is a "tuntap", and a GRE or VTI tunnel is its IPv6
// flavour unless its local address is an IPv4 one (net.IP.To4).
func linkType(kind, local []byte) string {
	switch string(kind) {
	case "":
		return "device"
	case "tun":
		return "tuntap"
	case "gretap", "ip6gretap":
		return v4or(local, "gretap", "ip6gretap")
	case "gre", "ip6gre":
		return v4or(local, "gre", "ip6gre")
	case "vti", "vti6":
		return v4or(local, "vti", "vti6")
	}
	// The usual kinds without an allocation per event.
	for _, k := range commonKinds {
		if string(kind) == k {
			return k
		}
	}
	return string(kind)
}

var commonKinds = []string{"veth", "bridge", "vlan", "bond", "dummy", "macvlan", "macvtap", "vxlan", "ipvlan", "ipvtap", "geneve", "wireguard", "vrf", "ifb", "netkit", "ipip", "sit", "ip6tnl", "xfrm", "ipoib", "can", "bareudp", "gtp"}

// v4or says v4 when ip is an IPv4 address as net.IP.To4 sees it (4 bytes,
// or 16 that map one), v6 otherwise (none, or any other length).
func v4or(ip []byte, v4, v6 string) string {
	switch {
	case len(ip) == 4:
		return v4
	case len(ip) == 16 && isZero(ip[:10]) && ip[10] == 0xff && ip[11] == 0xff:
		return v4
	}
	return v6
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// parseAddr returns the link of an RTM_NEWADDR or RTM_DELADDR message.
func parseAddr(data []byte) (int, error) {
	if len(data) < unix.SizeofIfAddrmsg {
		return 0, fmt.Errorf("%w: address message of %d bytes, its header is %d", errShort, len(data), unix.SizeofIfAddrmsg)
	}
	index := int(binary.NativeEndian.Uint32(data[4:8]))
	if err := checkAttrs(data[unix.SizeofIfAddrmsg:]); err != nil {
		return 0, fmt.Errorf("address on link %d: %w", index, err)
	}
	return index, nil
}

// checkAttrs fails when b is not a whole list of attributes, as a message
// netlink's full decoders would have refused.
func checkAttrs(b []byte) error {
	it := attrs{b}
	for {
		_, _, ok, err := it.next()
		if err != nil || !ok {
			return err
		}
	}
}

// routeMsg is what the monitor reads of an RTM_NEWROUTE or RTM_DELROUTE:
// its device (RTA_OIF; 0 when it has none) or, for a multipath route,
// each hop's.
type routeMsg struct {
	index int
	hops  []int
}

// parseRoute decodes a route message's RTA_OIF and RTA_MULTIPATH; hops
// are appended to buf[:0] (reused across events).
func parseRoute(data []byte, buf []int) (routeMsg, error) {
	if len(data) < unix.SizeofRtMsg {
		return routeMsg{}, fmt.Errorf("%w: route message of %d bytes, its header is %d", errShort, len(data), unix.SizeofRtMsg)
	}
	r := routeMsg{hops: buf[:0]}
	it := attrs{data[unix.SizeofRtMsg:]}
	for {
		t, v, ok, err := it.next()
		if err != nil {
			return routeMsg{}, fmt.Errorf("route: %w", err)
		}
		if !ok {
			return r, nil
		}
		switch t {
		case unix.RTA_OIF:
			if len(v) < 4 {
				return routeMsg{}, fmt.Errorf("%w: RTA_OIF of %d bytes", errShort, len(v))
			}
			r.index = int(binary.NativeEndian.Uint32(v[0:4]))
		case unix.RTA_MULTIPATH:
			if r.hops, err = appendHops(r.hops, v); err != nil {
				return routeMsg{}, fmt.Errorf("route: RTA_MULTIPATH: %w", err)
			}
		}
	}
}

// appendHops appends the interface of each struct rtnexthop in b.
func appendHops(hops []int, b []byte) ([]int, error) {
	for len(b) > 0 {
		if len(b) < unix.SizeofRtNexthop {
			return nil, fmt.Errorf("%w: %d trailing bytes, a next hop is %d", errShort, len(b), unix.SizeofRtNexthop)
		}
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		if l < unix.SizeofRtNexthop || l > len(b) {
			return nil, fmt.Errorf("next hop length %d out of range (%d bytes left)", l, len(b))
		}
		if err := checkAttrs(b[unix.SizeofRtNexthop:l]); err != nil {
			return nil, fmt.Errorf("next hop: %w", err)
		}
		hops = append(hops, int(binary.NativeEndian.Uint32(b[4:8])))
		b = b[min(align4(l), len(b)):]
	}
	return hops, nil
}
