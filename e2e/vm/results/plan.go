// Package results is the contract between the two halves of the VM tier
// (e2e/vm/README.md): the Plan the host puts into the image, which says
// which test binaries the guest runs and in what order, and the Records the
// guest writes back, one JSON object a line, on its second serial port,
// which qemu stores in a file on the host. Summarize turns them into counts
// and failures; nothing here touches the host or the VM.
package results

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// Tiers, in the order a run goes through them. Tier B (the control-plane
// e2e) runs first: once it is done the host stops its control plane, so
// tier A's timing-sensitive netns tests get the host's CPUs to themselves.
const (
	TierB = "B"
	TierA = "A"
)

// TierOrder is the order the host puts binaries into a Plan.
var TierOrder = []string{TierB, TierA}

// Plan is what the guest runs, in order.
type Plan struct {
	Binaries []Binary `json:"binaries"`
}

// Binary is one compiled test binary in the image.
type Binary struct {
	Name string `json:"name"` // its package's last element, unique in a plan
	Tier string `json:"tier"`
	Path string `json:"path"` // in the VM
	// Dir is its working directory in the VM (its package's directory,
	// as go test runs it); empty: a fresh one under the guest's -work.
	Dir string `json:"dir,omitempty"`
	// Args follow -test.v=test2json -test.count=1 -test.timeout.
	Args []string `json:"args,omitempty"`
	Env  []string `json:"env,omitempty"` // NAME=value, on top of /init's
	// Timeout is -test.timeout; the guest kills the binary KillAfter
	// later should it hang past its own timeout.
	Timeout   Duration `json:"timeout"`
	KillAfter Duration `json:"killAfter"`
}

// Duration is a time.Duration that reads and writes as "90s" in JSON.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// LastOfTier is the name of the tier's last binary in the plan, or "".
func (p Plan) LastOfTier(tier string) string {
	last := ""
	for _, b := range p.Binaries {
		if b.Tier == tier {
			last = b.Name
		}
	}
	return last
}

// Validate rejects a plan the guest could not report on unambiguously.
func (p Plan) Validate() error {
	if len(p.Binaries) == 0 {
		return fmt.Errorf("the plan has no test binaries")
	}
	seen := map[string]bool{}
	for _, b := range p.Binaries {
		if b.Name == "" || b.Path == "" {
			return fmt.Errorf("a binary without a name or path: %+v", b)
		}
		if seen[b.Name] {
			return fmt.Errorf("two binaries named %q", b.Name)
		}
		seen[b.Name] = true
	}
	return nil
}

// ReadPlan reads a plan written by WritePlan.
func ReadPlan(path string) (Plan, error) {
	var p Plan
	b, err := os.ReadFile(path)
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("%s: %w", path, err)
	}
	return p, p.Validate()
}
