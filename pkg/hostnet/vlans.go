package hostnet

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

// Bridge VLANs are read with RTM_GETVLAN (the kernel's VLAN database,
// `bridge -d vlan show`): it reports ranges, so a trunk of 4093 VIDs is
// one entry rather than 4093, and it can be asked about one port, so
// reading the uplink costs the same however many VM ports the bridge has.
// netlink has no call for it; the request is built with its nl helpers.

// From linux/if_bridge.h (not in x/sys/unix).
const (
	sizeofBrVlanMsg        = 8 // struct br_vlan_msg {family, reserved1, reserved2, ifindex}
	bridgeVLANDBEntry      = 1 // BRIDGE_VLANDB_ENTRY
	bridgeVLANDBEntryInfo  = 1 // BRIDGE_VLANDB_ENTRY_INFO: struct bridge_vlan_info
	bridgeVLANDBEntryRange = 2 // BRIDGE_VLANDB_ENTRY_RANGE: the range's last VID
	nlaTypeMask            = ^uint16(unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
)

// vlanReadTries bounds how often one VLAN dump that raced a change is
// read again before the pass gives up (Observe then starts over).
const vlanReadTries = 5

// readVLANs returns the bridge VLANs of the given port ifindexes (nil: every port), keyed by ifindex.
//
// Each port given costs one request, filtered by the kernel, so reading
// one port costs the same however many other ports the bridge has. An
// index that is no bridge port (any more), or no longer exists, is absent
// from the map rather than an error: the caller's link list says what
// happened to it. A bridge's own (self) VLANs are under the bridge's
// index when it is asked for, and nil asks for every index: a caller that
// wants ports only leaves bridges out. A port's list is in the kernel's
// order, by VID.
func (h *Host) readVLANs(ports []int) (map[int][]hoststate.VLAN, error) {
	if !h.vlanDBRefused.Load() {
		out, err := h.readVLANDB(ports)
		if !errors.Is(err, unix.EOPNOTSUPP) {
			return out, err
		}
		// The kernel has no RTM_GETVLAN for bridges: older than 5.8, or
		// built without CONFIG_BRIDGE_VLAN_FILTERING (then it has no VLANs
		// to report either). It does not grow one later.
		h.vlanDBRefused.Store(true)
	}
	return h.readVLANsLinkDump(ports)
}

// readVLANDB reads with RTM_GETVLAN: one dump of every link for nil, else
// one dump per port, filtered by the kernel (br_vlan_msg.ifindex).
func (h *Host) readVLANDB(ports []int) (map[int][]hoststate.VLAN, error) {
	out := map[int][]hoststate.VLAN{}
	if ports == nil {
		if err := h.vlanDump(0, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	seen := map[int]bool{}
	for _, idx := range ports {
		if seen[idx] || idx <= 0 {
			continue
		}
		seen[idx] = true
		err := h.vlanDump(idx, out)
		if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) {
			// ENODEV: gone since the caller saw it. EINVAL: neither a
			// bridge nor a bridge port (br_vlan_dump_dev), e.g. one
			// released from the bridge meanwhile.
			continue
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// vlanDump adds what one RTM_GETVLAN dump reports to out; a dump
// interrupted by a concurrent change is read again from the start.
func (h *Host) vlanDump(ifindex int, out map[int][]hoststate.VLAN) error {
	var got map[int][]hoststate.VLAN
	var err error
	for try := 0; try < vlanReadTries; try++ {
		got = map[int][]hoststate.VLAN{}
		req := h.request(unix.RTM_GETVLAN, unix.NLM_F_DUMP)
		msg := make([]byte, sizeofBrVlanMsg)
		msg[0] = unix.AF_BRIDGE
		nl.NativeEndian().PutUint32(msg[4:], uint32(ifindex))
		req.AddRawData(msg)
		var perr error
		err = req.ExecuteIter(unix.NETLINK_ROUTE, unix.RTM_NEWVLAN, func(m []byte) bool {
			perr = parseVLANMsg(m, got)
			return perr == nil
		})
		if err == nil {
			err = perr
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("listing bridge VLANs: %w", err)
	}
	for idx, v := range got {
		out[idx] = append(out[idx], v...)
	}
	return nil
}

// parseVLANMsg expands one RTM_NEWVLAN message's entries into VIDs.
func parseVLANMsg(m []byte, out map[int][]hoststate.VLAN) error {
	if len(m) < sizeofBrVlanMsg {
		return fmt.Errorf("a VLAN message of %d bytes", len(m))
	}
	idx := int(nl.NativeEndian().Uint32(m[4:8]))
	attrs, err := nl.ParseRouteAttr(m[sizeofBrVlanMsg:])
	if err != nil {
		return err
	}
	for _, a := range attrs {
		if a.Attr.Type&nlaTypeMask != bridgeVLANDBEntry {
			continue // global options, only sent when asked for
		}
		entry, err := nl.ParseRouteAttr(a.Value)
		if err != nil {
			return err
		}
		var info *nl.BridgeVlanInfo
		last := 0
		for _, e := range entry {
			switch e.Attr.Type & nlaTypeMask {
			case bridgeVLANDBEntryInfo:
				if len(e.Value) < 4 {
					return fmt.Errorf("a VLAN entry of %d bytes", len(e.Value))
				}
				info = nl.DeserializeBridgeVlanInfo(e.Value)
			case bridgeVLANDBEntryRange:
				if len(e.Value) < 2 {
					return fmt.Errorf("a VLAN range end of %d bytes", len(e.Value))
				}
				last = int(nl.NativeEndian().Uint16(e.Value))
			}
		}
		if info == nil {
			continue
		}
		first := int(info.Vid)
		last = max(last, first)
		vs := slices.Grow(out[idx], last-first+1)
		for vid := first; vid <= last; vid++ {
			// A port has one PVID, and the kernel starts a range there.
			vs = append(vs, hoststate.VLAN{VID: vid, PVID: info.PortVID() && vid == first, Untagged: info.EngressUntag()})
		}
		out[idx] = vs
	}
	return nil
}

// readVLANsLinkDump is the fallback for a kernel without RTM_GETVLAN: an
// AF_BRIDGE RTM_GETLINK dump of every port, one entry per VID, filtered
// here (that dump cannot be asked about one port).
func (h *Host) readVLANsLinkDump(ports []int) (map[int][]hoststate.VLAN, error) {
	var vl map[int32][]*nl.BridgeVlanInfo
	var err error
	// A dump that raced a change is incomplete: read it again.
	for try := 0; try < vlanReadTries; try++ {
		if vl, err = h.nl.BridgeVlanList(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("listing bridge VLANs: %w", err)
	}
	want := map[int]bool{}
	for _, p := range ports {
		want[p] = true
	}
	out := map[int][]hoststate.VLAN{}
	for idx, infos := range vl {
		if ports != nil && !want[int(idx)] {
			continue
		}
		for _, in := range infos {
			out[int(idx)] = append(out[int(idx)], hoststate.VLAN{VID: int(in.Vid), PVID: in.PortVID(), Untagged: in.EngressUntag()})
		}
	}
	return out, nil
}

// maxVLANAttrs bounds the VLAN entries in one message (8 bytes each): far
// below a socket's send buffer, and every VID of 2-4094 in two messages at
// the worst (every other VID).
const maxVLANAttrs = 1024

// setVLANs adds (or deletes) VID ranges on a bridge port, as `bridge vlan
// add dev PORT vid FROM-TO master` does, but many ranges to one message:
// the kernel takes any number of IFLA_BRIDGE_VLAN_INFO entries in one
// IFLA_AF_SPEC, a range as a RANGE_BEGIN/RANGE_END pair and a single VID
// on its own (it rejects a pair whose end is not above its begin).
func (h *Host) setVLANs(ifindex int, add bool, ranges []plan.Range) error {
	cmd := unix.RTM_DELLINK
	if add {
		cmd = unix.RTM_SETLINK
	}
	for len(ranges) > 0 {
		req := h.request(cmd, unix.NLM_F_ACK)
		msg := nl.NewIfInfomsg(unix.AF_BRIDGE)
		msg.Index = int32(ifindex)
		req.AddData(msg)
		spec := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
		spec.AddRtAttr(nl.IFLA_BRIDGE_FLAGS, nl.Uint16Attr(nl.BRIDGE_FLAGS_MASTER))
		n, sent := 0, 0
		for _, r := range ranges {
			if n+2 > maxVLANAttrs {
				break
			}
			if r.To == r.From {
				spec.AddRtAttr(nl.IFLA_BRIDGE_VLAN_INFO, (&nl.BridgeVlanInfo{Vid: uint16(r.From)}).Serialize())
				n++
			} else {
				spec.AddRtAttr(nl.IFLA_BRIDGE_VLAN_INFO, (&nl.BridgeVlanInfo{Vid: uint16(r.From), Flags: nl.BRIDGE_VLAN_INFO_RANGE_BEGIN}).Serialize())
				spec.AddRtAttr(nl.IFLA_BRIDGE_VLAN_INFO, (&nl.BridgeVlanInfo{Vid: uint16(r.To), Flags: nl.BRIDGE_VLAN_INFO_RANGE_END}).Serialize())
				n += 2
			}
			sent++
		}
		req.AddData(spec)
		if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
			if errors.Is(err, unix.EOPNOTSUPP) {
				return plan.Unsupported(plan.CapVLANFiltering, "the kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)")
			}
			return fmt.Errorf("VLANs %s: %w", joinRanges(ranges[:sent]), err)
		}
		ranges = ranges[sent:]
	}
	return nil
}

func joinRanges(rs []plan.Range) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += ","
		}
		s += r.String()
	}
	return s
}

// request is a netlink request on the host's own socket for what netlink
// has no call for (its handle's sockets are not reachable from outside).
func (h *Host) request(proto, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(proto, flags)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: h.raw}
	return req
}
