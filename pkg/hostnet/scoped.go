package hostnet

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// maxScoped is where reading links one by one stops paying: past it, one
// dump of every link, address and route costs less than a few requests
// per link.
const maxScoped = 128

// ObserveScoped is the read of an event pass. It reads again only the
// links in s (by index and by name, with their addresses, routes and
// bridge VLANs, each asked of the kernel for that link alone; s.Names's
// as links only while they are as last read, see hoststate.Scope) and
// takes every other link from the last read, sharing what did not change
// (scopedmerge.go): a node with a thousand VM ports pays for the few
// links that changed, not for the thousand.
//
// That is exact as long as every change since the last read is in
// s.Changed, which the netlink monitor guarantees while it has lost no
// event; after a lost event (a resubscription) and on every periodic
// resync the caller reads everything with Observe, which also bounds how
// long a mistake could last. Without a last read, or a kernel that cannot
// filter dumps by link (NETLINK_GET_STRICT_CHK, Linux 4.20), it is Observe.
func (h *Host) ObserveScoped(s hoststate.Scope) (*hoststate.State, error) {
	h.mu.Lock()
	last := h.last
	h.mu.Unlock()
	if last == nil || len(s.Changed)+len(s.Names)+len(s.Touched) > maxScoped {
		return h.Observe()
	}
	sr, err := h.strictReader()
	if err != nil {
		return h.Observe()
	}
	st, err := h.observeScoped(sr, last, s)
	if err != nil {
		return nil, err
	}
	h.remember(st)
	return st, nil
}

// remember keeps st as the base of the next scoped read. States are never
// changed once built (a scoped read shares what did not change and copies
// what did), so st may also be in the caller's hands.
func (h *Host) remember(st *hoststate.State) {
	h.mu.Lock()
	h.last = st
	h.mu.Unlock()
}

// fresh is one link read again: gone when the kernel no longer has it.
// Only a whole one has its addresses, routes and bridge VLANs read again;
// the others take them from the last read (see ObserveScoped).
type fresh struct {
	link   hoststate.Link
	active int // a bond's active slave, by index
	gone   bool
	whole  bool
}

func (h *Host) observeScoped(sr *strictReader, last *hoststate.State, s hoststate.Scope) (*hoststate.State, error) {
	read := map[int]*fresh{}
	keep := func(l netlink.Link, whole bool) {
		f := &fresh{link: toLink(l), whole: whole}
		f.active = bondParts(l, &f.link)
		read[f.link.Index] = f
	}
	readIndex := func(idx int, whole bool) error {
		if f, done := read[idx]; done || idx <= 0 {
			if done {
				f.whole = f.whole || whole
			}
			return nil
		}
		l, err := sr.nl.LinkByIndex(idx)
		if err != nil {
			if isNotFound(err) {
				read[idx] = &fresh{gone: true, whole: true}
				return nil
			}
			return fmt.Errorf("reading link %d: %w", idx, err)
		}
		keep(l, whole)
		return nil
	}
	for _, idx := range s.Changed {
		if err := readIndex(idx, true); err != nil {
			return nil, err
		}
	}
	// By name: what holds the name now, which may be a link the last read
	// did not have yet (a bridge just created) or another index than then;
	// then the link that had the name, if another, for what became of it.
	byName := func(name string, whole bool) error {
		l, err := sr.nl.LinkByName(name)
		switch {
		case isNotFound(err):
		case err != nil:
			return fmt.Errorf("reading link %s: %w", name, err)
		default:
			if f, done := read[l.Attrs().Index]; !done {
				keep(l, whole)
			} else {
				f.whole = f.whole || whole
			}
		}
		if cached, ok := last.Link(name); ok {
			return readIndex(cached.Index, whole)
		}
		return nil
	}
	for _, name := range s.Touched {
		if err := byName(name, true); err != nil {
			return nil, err
		}
	}
	for _, name := range append(slices.Clone(s.Names), newBridgeName) {
		if err := byName(name, false); err != nil {
			return nil, err
		}
	}
	// A bond read again names its active slave and sets its slaves'
	// partners: they must be read with it.
	for _, f := range mapValues(read) {
		if f.gone || f.link.Bond == nil {
			continue
		}
		for _, l := range last.Links {
			if l.MasterIndex == f.link.Index {
				if err := readIndex(l.Index, false); err != nil {
					return nil, err
				}
			}
		}
	}
	// A link read by name only is read whole when it is not as the last
	// read had it: new, renamed, moved, or changed in a way that changes
	// its addresses (up, down) or VLANs (a new master), whose events may
	// still be on their way. Otherwise its addresses, routes and VLANs
	// are the last read's: every change to them since then is an event
	// naming it, so it would be in s.Changed.
	var whole, alive []int
	for idx, f := range read {
		if !f.whole && !f.gone {
			if was, ok := last.LinkByIndex(idx); ok && sameLink(was, f.link) {
				f.link.Addrs = was.Addrs
			} else {
				f.whole = true
			}
		}
		if f.whole {
			whole = append(whole, idx)
			if !f.gone {
				alive = append(alive, idx)
			}
		}
	}
	addrs, err := sr.addrsOf(alive)
	if err != nil {
		return nil, fmt.Errorf("listing addresses: %w", err)
	}
	var again []hoststate.Link
	for idx, f := range read {
		if f.gone || !f.whole {
			if !f.gone {
				again = append(again, f.link)
			}
			continue
		}
		a, ok := addrs[idx]
		if !ok {
			f.gone = true // deleted after it was read
			continue
		}
		f.link.Addrs = a
		again = append(again, f.link)
	}
	slices.SortFunc(again, func(a, b hoststate.Link) int { return a.Index - b.Index })
	byIndex := map[int]*hoststate.Link{} // the links read again only
	active := map[int]int{}
	for i := range again {
		byIndex[again[i].Index] = &again[i]
		active[again[i].Index] = read[again[i].Index].active
	}
	h.hw.fillSome(byIndex)
	if err := h.fillBonds(byIndex, active); err != nil {
		return nil, err
	}

	st := &hoststate.State{}
	freshNames := map[string]bool{}
	for i := range again {
		freshNames[again[i].Name] = true
	}
	changed, kept := mergeLinks(st, last, again, read, freshNames)

	var ports []int
	for _, idx := range whole {
		if l := byIndex[idx]; l != nil && l.MasterIndex != 0 {
			ports = append(ports, idx)
		}
	}
	if err := mergeRoutes(sr, st, last, read); err != nil {
		return nil, err
	}
	if err := h.mergeVLANs(st, last, read, byIndex, ports); err != nil {
		return nil, err
	}
	if kept {
		st.ShareIndex(last, changed)
	} else {
		st.ShareRouteIndex(last)
	}
	h.mu.Lock()
	h.netfilter.copyTo(st)
	h.mu.Unlock()
	return st, nil
}

// sameLink reports whether a link read by name is as the last read had it
// in what its addresses and VLANs depend on.
func sameLink(was, now hoststate.Link) bool {
	return was.Name == now.Name && was.Type == now.Type && was.MasterIndex == now.MasterIndex && was.AdminUp == now.AdminUp &&
		was.OperState == now.OperState && was.Carrier == now.Carrier && was.MTU == now.MTU && was.MAC == now.MAC
}

// routeKey is what the hops of one multipath route have in common.
type routeKey struct {
	family, table, priority int
	dst                     string
}

func multipathHop(r hoststate.Route) bool { return r.Family == unix.AF_INET && r.Gw.IsValid() }

func keyOf(r hoststate.Route) routeKey {
	return routeKey{family: r.Family, table: r.Table, priority: r.Priority, dst: r.Dst.String()}
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

func mapValues[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
