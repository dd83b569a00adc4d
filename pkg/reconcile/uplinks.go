package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

// uplinkRecord remembers which NICs harvnet enslaved and the configuration
// it moved off them, on disk when it has a directory. With it a restarted
// agent still tells a veth uplink from a VM's veth, and a node whose bridge
// was deleted under it gets its addresses and routes back.
type uplinkRecord struct {
	path    string
	uplinks map[string]plan.Carried
}

type uplinkFile struct {
	Uplinks map[string]plan.Carried `json:"uplinks"`
}

func loadUplinkRecord(dir string) (*uplinkRecord, error) {
	r := &uplinkRecord{uplinks: map[string]plan.Carried{}}
	if dir == "" {
		return r, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	r.path = filepath.Join(dir, "uplinks.json")
	b, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state file: %w", err)
	}
	var f uplinkFile
	if err := json.Unmarshal(b, &f); err == nil && f.Uplinks != nil {
		r.uplinks = f.Uplinks
	} // a torn file must not stop the agent: it only loses the hints
	return r, nil
}

func (r *uplinkRecord) names() []string {
	out := make([]string, 0, len(r.uplinks))
	for n := range r.uplinks {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

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
	case a.Op == plan.AddAddr && a.Addr.ValidLft == 0 && !(hoststate.Link{Addrs: c.Addrs}).HasAddr(a.Addr.Prefix):
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
	ports := map[string]bool{}
	for _, p := range host.Ports(d.Bridge) {
		ports[p.Name] = true
	}
	br, _ := host.Link(d.Bridge)
	brRoutes := host.RoutesOf(d.Bridge)
	changed := false
	for n, c := range r.uplinks {
		if ports[n] || n == d.Uplink {
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

func holdsAll(l hoststate.Link, addrs []hoststate.Addr) bool {
	for _, a := range addrs {
		if !l.HasAddr(a.Prefix) {
			return false
		}
	}
	return true
}

// save writes the record atomically and durably: a crash or a power cut
// leaves the old or the new file, never an empty one, because the record
// is what gives a node its addresses back.
func (r *uplinkRecord) save() error {
	if r.path == "" {
		return nil
	}
	b, err := json.Marshal(uplinkFile{Uplinks: r.uplinks})
	if err != nil {
		return err
	}
	tmp := r.path + ".tmp"
	if err := writeSynced(tmp, b); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if d, err := os.Open(filepath.Dir(r.path)); err == nil {
		_ = d.Sync() // the rename itself; without it the old name may come back
		d.Close()
	}
	return nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
