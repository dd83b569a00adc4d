package status

import (
	"sort"

	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// LinkState derives a link's usable state from the kernel's operational
// state and carrier: an administratively-up NIC without a cable is down.
func LinkState(l hoststate.Link) v1alpha1.LinkState {
	if !l.AdminUp {
		return v1alpha1.LinkDown
	}
	switch l.OperState {
	case "up":
		return v1alpha1.LinkUp
	case "down":
		return v1alpha1.LinkDown
	case "lower-layer-down":
		return v1alpha1.LinkLowerLayerDown
	case "dormant":
		return v1alpha1.LinkDormant
	}
	// Drivers that report no operstate still report carrier.
	if l.Carrier {
		return v1alpha1.LinkUp
	}
	return v1alpha1.LinkUnknown
}

func linkStatus(h *hoststate.State, l hoststate.Link) v1alpha1.LinkStatus {
	ls := v1alpha1.LinkStatus{
		Index:         l.Index,
		Type:          l.Type,
		MAC:           l.MAC,
		MTU:           l.MTU,
		LinkStatus:    LinkState(l),
		Promiscuous:   l.Promisc,
		VLANFiltering: l.VLANFiltering,
		Bond:          bondStatus(h, l),
	}
	if m, ok := h.LinkByIndex(l.MasterIndex); ok {
		ls.Master = m.Name
	}
	for _, a := range l.Addrs {
		if !a.Global() {
			continue
		}
		if a.Prefix.Addr().Is4() {
			ls.IPv4Address = append(ls.IPv4Address, a.Prefix.String())
		} else {
			ls.IPv6Address = append(ls.IPv6Address, a.Prefix.String())
		}
	}
	for _, r := range h.RoutesOf(l.Name) {
		ls.Routes = append(ls.Routes, r.Format(l.Name))
	}
	sort.Strings(ls.IPv4Address)
	sort.Strings(ls.IPv6Address)
	sort.Strings(ls.Routes)
	return ls
}

// Management returns the interface that carries the node's own traffic:
// the one holding the best default route, else the first with an address.
func Management(h *hoststate.State) (hoststate.Link, bool) {
	best := -1
	var found hoststate.Link
	for _, r := range h.Routes {
		if r.Dst.IsValid() || !r.Main() {
			continue
		}
		l, ok := h.LinkByIndex(r.LinkIndex)
		// IPv4 defaults win over IPv6 ones: most clusters manage over IPv4.
		rank := r.Priority + map[bool]int{true: 0, false: 1 << 30}[r.Family == unix.AF_INET]
		if ok && (best < 0 || rank < best) {
			best, found = rank, l
		}
	}
	if best >= 0 {
		return found, true
	}
	for _, l := range h.Links {
		if !l.Loopback && len(l.GlobalAddrs()) > 0 {
			return l, true
		}
	}
	return hoststate.Link{}, false
}

// under reports whether l is below the link with index top in a chain of
// masters, e.g. ens3 -> mgmt-bo -> mgmt-br.
func under(h *hoststate.State, l hoststate.Link, top int) bool {
	for hops := 0; hops < 8 && l.MasterIndex != 0; hops++ {
		if l.MasterIndex == top {
			return true
		}
		var ok bool
		if l, ok = h.LinkByIndex(l.MasterIndex); !ok {
			return false
		}
	}
	return false
}
