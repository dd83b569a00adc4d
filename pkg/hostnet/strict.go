package hostnet

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// strictReader asks the kernel for one link's addresses and routes. Its
// sockets have NETLINK_GET_STRICT_CHK set, without which the kernel
// ignores the link in a dump request and sends every address and route of
// the node (the netlink library then filters them in Go). The full read
// keeps its own socket: strict checking also makes the kernel refuse
// requests it used to accept, and the full read must work on any kernel.
type strictReader struct {
	nl *netlink.Handle // links and routes

	mu   sync.Mutex // one request at a time on raw
	raw  map[int]*nl.SocketHandle
	sock *nl.NetlinkSocket
}

// strictReader opens the reader on first use; an error means the kernel
// cannot filter dumps and every read is a full one.
func (h *Host) strictReader() (*strictReader, error) {
	h.strictOnce.Do(func() { h.strict, h.strictErr = openStrict(h.NsHandle()) })
	return h.strict, h.strictErr
}

func openStrict(ns netns.NsHandle) (*strictReader, error) {
	var (
		hd  *netlink.Handle
		err error
	)
	if ns.IsOpen() {
		hd, err = netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	} else {
		hd, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, err
	}
	if err := hd.SetStrictCheck(true); err != nil {
		hd.Close()
		return nil, fmt.Errorf("netlink strict checking: %w", err)
	}
	cur := netns.None()
	if ns.IsOpen() {
		if cur, err = netns.Get(); err != nil {
			hd.Close()
			return nil, err
		}
		defer cur.Close()
	}
	var sock *nl.NetlinkSocket
	if ns.IsOpen() {
		sock, err = nl.GetNetlinkSocketAt(ns, cur, unix.NETLINK_ROUTE)
	} else {
		sock, err = nl.GetNetlinkSocketAt(netns.None(), netns.None(), unix.NETLINK_ROUTE)
	}
	if err != nil {
		hd.Close()
		return nil, err
	}
	if err := unix.SetsockoptInt(sock.GetFd(), unix.SOL_NETLINK, unix.NETLINK_GET_STRICT_CHK, 1); err != nil {
		sock.Close()
		hd.Close()
		return nil, fmt.Errorf("netlink strict checking: %w", err)
	}
	return &strictReader{nl: hd, sock: sock, raw: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: sock}}}, nil
}

func (s *strictReader) close() {
	s.nl.Close()
	s.sock.Close()
}

// perLink is how many links are asked about one at a time. Past it, one
// dump (of a table, or of a family's addresses) filtered here costs less:
// for each link asked alone the kernel walks the whole routing table.
const perLink = 4

// routesOf returns the routes of each link in idxs (see routes); a link
// that is gone has none.
func (s *strictReader) routesOf(idxs, tables []int) (map[int][]hoststate.Route, error) {
	out := map[int][]hoststate.Route{}
	if len(idxs) <= perLink {
		for _, idx := range idxs {
			rs, err := s.routes(idx, tables)
			if errors.Is(err, unix.ENODEV) {
				continue // gone: so are its routes, and its link event is due
			}
			if err != nil {
				return nil, fmt.Errorf("link %d: %w", idx, err)
			}
			out[idx] = rs
		}
		return out, nil
	}
	want := map[int]bool{}
	for _, idx := range idxs {
		want[idx] = true
	}
	for _, table := range tables {
		rs, err := s.dumpRoutes(&netlink.Route{Table: table})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			for _, hop := range toRoutes(r) {
				if want[hop.LinkIndex] {
					out[hop.LinkIndex] = append(out[hop.LinkIndex], hop)
				}
			}
		}
	}
	return out, nil
}

func (s *strictReader) dumpRoutes(filter *netlink.Route) ([]netlink.Route, error) {
	var rs []netlink.Route
	var err error
	for try := 0; try < 4; try++ {
		// LinkIndex goes to the kernel as RTA_OIF; the mask leaves it
		// out of the library's own filter, which would drop multipath
		// routes (their LinkIndex is in the hops).
		rs, err = s.nl.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_TABLE)
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	return rs, err
}

// routes returns the routes through link idx in the given tables, as
// Observe reads them: a multipath route gives its hops through idx only
// (its other hops are read with their own links). One table at a time:
// the kernel then walks only that table, not the local table, which holds
// a route for every address of every link (two per VM port's IPv6
// link-local address).
func (s *strictReader) routes(idx int, tables []int) ([]hoststate.Route, error) {
	var out []hoststate.Route
	for _, table := range tables {
		rs, err := s.dumpRoutes(&netlink.Route{LinkIndex: idx, Table: table})
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			for _, hop := range toRoutes(r) {
				if hop.LinkIndex == idx {
					out = append(out, hop)
				}
			}
		}
	}
	return out, nil
}

// addrsOf returns the addresses of each link in idxs, as Observe reads
// them; a link that is gone is missing from the map.
func (s *strictReader) addrsOf(idxs []int) (map[int]hoststate.Addrs, error) {
	out := map[int]hoststate.Addrs{}
	if len(idxs) <= perLink {
		for _, idx := range idxs {
			a, err := s.addrs(idx)
			if errors.Is(err, unix.ENODEV) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("link %d: %w", idx, err)
			}
			out[idx] = a
		}
		return out, nil
	}
	for _, idx := range idxs {
		out[idx] = nil // a link without addresses is still there
	}
	all, err := s.dumpAddrs(0)
	if err != nil {
		return nil, err
	}
	for _, a := range all {
		if _, wanted := out[a.linkIndex]; wanted {
			out[a.linkIndex] = append(out[a.linkIndex], a.addr)
		}
	}
	return out, nil
}

// addrs returns link idx's addresses.
func (s *strictReader) addrs(idx int) (hoststate.Addrs, error) {
	all, err := s.dumpAddrs(idx)
	if err != nil {
		return nil, err
	}
	var out hoststate.Addrs
	for _, a := range all {
		if a.linkIndex == idx {
			out = append(out, a.addr)
		}
	}
	return out, nil
}

// dumpAddrs dumps the addresses of link idx, or of every link for 0.
func (s *strictReader) dumpAddrs(idx int) ([]parsedAddr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []parsedAddr
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		var msgs [][]byte
		var err error
		for try := 0; try < 4; try++ {
			req := nl.NewNetlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
			req.Sockets = s.raw
			m := nl.NewIfAddrmsg(fam)
			m.Index = uint32(idx)
			req.AddData(m)
			if msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWADDR); !errors.Is(err, netlink.ErrDumpInterrupted) {
				break
			}
		}
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			a, ok, err := parseAddr(m)
			if err != nil {
				return nil, err
			}
			if ok {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

type parsedAddr struct {
	linkIndex int
	addr      hoststate.Addr
}

// parseAddr reads an RTM_NEWADDR message as the netlink library's
// AddrList does (IFA_LOCAL over IFA_ADDRESS, lifetimes from
// IFA_CACHEINFO) and converts it as Observe's toAddr does.
func parseAddr(m []byte) (parsedAddr, bool, error) {
	msg := nl.DeserializeIfAddrmsg(m)
	attrs, err := nl.ParseRouteAttr(m[msg.Len():])
	if err != nil {
		return parsedAddr{}, false, err
	}
	var local, dst net.IP
	valid, preferred := uint32(infiniteLft), uint32(infiniteLft)
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.IFA_ADDRESS:
			dst = net.IP(a.Value)
		case unix.IFA_LOCAL:
			local = net.IP(a.Value)
		case unix.IFA_CACHEINFO:
			ci := nl.DeserializeIfaCacheInfo(a.Value)
			valid, preferred = ci.Valid, ci.Prefered
		}
	}
	ip := local
	if ip == nil {
		ip = dst
	}
	p, ok := netip.AddrFromSlice(ip)
	if !ok {
		return parsedAddr{}, false, nil
	}
	out := hoststate.Addr{Prefix: netip.PrefixFrom(p.Unmap(), int(msg.Prefixlen)), Scope: int(msg.Scope)}
	if valid != infiniteLft || preferred != infiniteLft {
		out.ValidLft, out.PreferredLft = int(valid), int(preferred)
	}
	return parsedAddr{linkIndex: int(msg.Index), addr: out}, true, nil
}

// vxlans lists the VXLAN links, for the doctor. With strict checking the
// kernel sends only links of that kind (IFLA_INFO_KIND in the request),
// not every VM port; a kernel that ignores the filter sends all links,
// and the caller keeps the VXLANs. Without a strict reader: every link.
func (h *Host) vxlans() ([]netlink.Link, error) {
	sr, err := h.strictReader()
	if err != nil {
		return h.nl.LinkList()
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	var msgs [][]byte
	for try := 0; try < 4; try++ {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
		req.Sockets = sr.raw
		req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
		info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
		info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("vxlan"))
		req.AddData(info)
		if msgs, err = req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	var out []netlink.Link
	for _, m := range msgs {
		l, err := netlink.LinkDeserialize(nil, m)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}
