package reconcile

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"

	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

// uplinkRecord remembers which NICs harvnet enslaved and the configuration
// it moved off them, on disk (pkg/checkpoint) when it has a directory.
// With it a restarted agent still tells a veth uplink from a VM's veth,
// and a node whose bridge was deleted under it gets its addresses and
// routes back. The copy in memory is the truth while the agent runs; the
// file is read at start, and again before every pass while it is corrupt.
type uplinkRecord struct {
	path    string
	uplinks map[string]plan.Carried
	// change is the rest of the state file: the applied input and the
	// change in its probe window or rolled back (see rollback.go).
	change checkpoint.State
	// indexes are the ifindexes of the recorded NICs as last seen. A NIC
	// renamed while the agent runs keeps its index, so its record
	// follows it to the new name (see follow). Kept in memory only: an
	// agent that starts after a rename finds the NIC by its new name
	// through the spec's MAC or PCI address, and the old name's record
	// is pruned as for a NIC that is gone.
	indexes map[string]int
	// corrupt is set while the file cannot be trusted: nothing that
	// depends on the record may be done, nor the file overwritten.
	corrupt *checkpoint.CorruptError
}

func loadUplinkRecord(dir string) (*uplinkRecord, error) {
	r := &uplinkRecord{uplinks: map[string]plan.Carried{}, indexes: map[string]int{}}
	if dir == "" {
		return r, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	r.path = checkpoint.Path(dir)
	r.read()
	return r, nil
}

// read loads the file, upgrading one in an older format at once so that
// only one format is ever on disk after an agent started.
func (r *uplinkRecord) read() {
	st, old, err := checkpoint.ReadState(r.path)
	if err != nil {
		ce := &checkpoint.CorruptError{Path: r.path, Err: err}
		errors.As(err, &ce)
		if r.corrupt == nil || r.corrupt.Error() != ce.Error() {
			slog.Error("state file corrupt: changing nothing on this host until it is fixed",
				"path", ce.Path, "problem", ce.Err, "remedy", ce.Remedy())
		}
		r.corrupt = ce
		return
	}
	if r.corrupt != nil {
		slog.Info("state file no longer corrupt (fixed or moved aside): reconciling", "path", r.path, "uplinks", slices.Sorted(maps.Keys(st.Uplinks)))
	}
	r.uplinks, r.corrupt = st.Uplinks, nil
	st.Uplinks = nil
	r.change = st
	if old {
		if err := r.save(); err != nil {
			slog.Warn("state file: rewriting it in the current format failed; the next change writes it", "path", r.path, "err", err)
		} else {
			slog.Info("state file upgraded", "path", r.path, "version", checkpoint.Version)
		}
	}
}

// usable re-reads a corrupt file (an operator may have moved or fixed it)
// and returns what is still wrong, nil when the record can be used.
func (r *uplinkRecord) usable() *checkpoint.CorruptError {
	if r.corrupt != nil {
		r.read()
	}
	return r.corrupt
}

func (r *uplinkRecord) names() []string { return slices.Sorted(maps.Keys(r.uplinks)) }

func (r *uplinkRecord) carried() map[string]plan.Carried { return r.uplinks }

func (r *uplinkRecord) add(nic string) error {
	if _, ok := r.uplinks[nic]; ok {
		return nil
	}
	r.uplinks[nic] = plan.Carried{}
	return r.save()
}

// carry records what an action moves onto the bridge for its owner.
// Addresses with a lifetime belong to a DHCP or SLAAC client, which renews
// them; harvnet only carries permanent ones.
func (r *uplinkRecord) carry(a plan.Action) error {
	c := r.uplinks[a.Owner]
	switch {
	case a.Op == plan.AddAddr && a.Addr.ValidLft == 0 && !c.Addrs.Has(a.Addr.Prefix):
		c.Addrs = append(c.Addrs, a.Addr)
	case a.Op == plan.AddRoute && !slices.ContainsFunc(c.Routes, a.Route.Same):
		c.Routes = append(c.Routes, a.Route)
	default:
		return nil
	}
	r.uplinks[a.Owner] = c
	return r.save()
}

// prune forgets NICs that harvnet no longer has to give anything back to:
// not a port, not wanted, holding their addresses again (or gone), and
// with no copy of them left on the bridge (an agent may have died between
// releasing the NIC and removing the copies).
func (r *uplinkRecord) prune(host *hoststate.State, d desired.State) {
	r.follow(host)
	br, _ := host.Link(d.Bridge)
	brRoutes := host.RoutesOf(d.Bridge)
	changed := false
	for n, c := range r.uplinks {
		if host.IsPortOf(n, d.Bridge) || n == d.Uplink {
			continue
		}
		if l, ok := host.Link(n); ok && !holdsAll(l, c.Addrs) {
			continue
		}
		if addrs, routes := c.CopiesOn(br, brRoutes); br.Type == "bridge" && (len(addrs.Addrs) > 0 || len(routes) > 0) {
			continue
		}
		delete(r.uplinks, n)
		changed = true
	}
	if changed {
		_ = r.save() // best effort: the record is rebuilt as NICs are enslaved
	}
}

// follow moves the record of a NIC that was renamed to its new name: a
// recorded name that is gone while a link with its last index exists
// under another name. Without it the renamed uplink would be harvnet's
// under a name no link has, and what was carried for it lost.
func (r *uplinkRecord) follow(host *hoststate.State) {
	changed := false
	for _, n := range slices.Sorted(maps.Keys(r.uplinks)) {
		if l, ok := host.Link(n); ok {
			r.indexes[n] = l.Index
			continue
		}
		idx, known := r.indexes[n]
		l, ok := host.LinkByIndex(idx)
		if _, taken := r.uplinks[l.Name]; !known || !ok || taken {
			continue
		}
		slog.Info("a NIC harvnet enslaved was renamed: its record follows it", "from", n, "to", l.Name, "index", idx)
		r.uplinks[l.Name] = r.uplinks[n]
		r.indexes[l.Name] = idx
		delete(r.uplinks, n)
		delete(r.indexes, n)
		changed = true
	}
	for n := range r.indexes {
		if _, ok := r.uplinks[n]; !ok {
			delete(r.indexes, n)
		}
	}
	if changed {
		_ = r.save() // best effort, as prune's
	}
}

func holdsAll(l hoststate.Link, addrs hoststate.Addrs) bool {
	return !slices.ContainsFunc(addrs, func(a hoststate.Addr) bool { return !l.Addrs.Has(a.Prefix) })
}

func (r *uplinkRecord) save() error {
	if r.path == "" {
		return nil
	}
	st := r.change
	st.Uplinks = r.uplinks
	return checkpoint.WriteState(r.path, st)
}
