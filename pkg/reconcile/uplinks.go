package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// uplinkRecord remembers which NICs harvnet enslaved, on disk when it has a
// directory, so that after a restart a veth uplink is still told apart from
// a VM's veth on the same bridge.
type uplinkRecord struct {
	path string
	set  map[string]bool
}

type uplinkFile struct {
	Enslaved []string `json:"enslaved"`
}

func loadUplinkRecord(dir string) (*uplinkRecord, error) {
	r := &uplinkRecord{set: map[string]bool{}}
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
	if err := json.Unmarshal(b, &f); err != nil {
		// A torn file must not stop the agent: it only loses the veth hint.
		return r, nil
	}
	for _, n := range f.Enslaved {
		r.set[n] = true
	}
	return r, nil
}

func (r *uplinkRecord) names() []string {
	out := make([]string, 0, len(r.set))
	for n := range r.set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (r *uplinkRecord) add(name string) error {
	if r.set[name] {
		return nil
	}
	r.set[name] = true
	return r.save()
}

func (r *uplinkRecord) remove(name string) error {
	if !r.set[name] {
		return nil
	}
	delete(r.set, name)
	return r.save()
}

// prune forgets NICs that are neither ports of the bridge nor wanted, for
// instance one an admin released by hand.
func (r *uplinkRecord) prune(host *hoststate.State, d desired.State) {
	ports := map[string]bool{}
	for _, p := range host.Ports(d.Bridge) {
		ports[p.Name] = true
	}
	changed := false
	for n := range r.set {
		if !ports[n] && n != d.Uplink {
			delete(r.set, n)
			changed = true
		}
	}
	if changed {
		_ = r.save() // best effort: the record is a hint, rebuilt as NICs are enslaved
	}
}

// save writes the record atomically: a crash leaves the old or the new file.
func (r *uplinkRecord) save() error {
	if r.path == "" {
		return nil
	}
	b, _ := json.Marshal(uplinkFile{Enslaved: r.names()})
	tmp := r.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	if err := os.Rename(tmp, r.path); err != nil {
		return fmt.Errorf("state file: %w", err)
	}
	return nil
}
