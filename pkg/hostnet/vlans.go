package hostnet

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// readVLANs returns the bridge VLANs of the given port ifindexes (nil:
// every port), keyed by ifindex.
// TEMPORARY: replaced by the per-port RTM_GETVLAN reader (branch vlan).
func (h *Host) readVLANs(ports []int) (map[int][]hoststate.VLAN, error) {
	var vl map[int32][]*nl.BridgeVlanInfo
	var err error
	for try := 0; try < 5; try++ {
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
