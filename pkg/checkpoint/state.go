package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/probe"
)

// State is everything the agent keeps across restarts.
type State struct {
	// Uplinks are the NICs harvnet enslaved and what it carries for them.
	Uplinks map[string]plan.Carried
	// Applied is the last input the host was brought to and kept: what a
	// rollback restores, and what an agent that starts while the API
	// server does not answer reconciles to. nil: none yet.
	Applied *desired.Input
	// Pending is a change whose probes have not passed yet; an agent that
	// starts with one finishes it (commit or rollback).
	Pending *Pending
	// RolledBack is the change last undone, held until the spec or the
	// retry annotation changes.
	RolledBack *RolledBack
}

// Pending is what a rollback needs, written before the change starts.
type Pending struct {
	// Previous is the input to restore; the zero input (no network) when
	// nothing was applied before.
	Previous desired.Input
	Next     desired.Input
	// Probes passed before the change; each must pass again by Deadline.
	Probes   []probe.Probe
	Deadline time.Time
	// Step is the condition type of the step the change is in.
	Step string
}

// RolledBack says which change was undone and why.
type RolledBack struct {
	Generation int64
	Retry      string
	Probe      string // the probe that kept failing
	Why        string // its last error
	Step       string
	Time       time.Time
}

// Input is the on-disk form of a desired.Input. The spec is kept in the
// API's own JSON form (network.harvesterhci.io/v1alpha1), which is
// versioned by the API.
type Input struct {
	Spec       json.RawMessage `json:"spec"`
	Generation int64           `json:"generation"`
	Retry      string          `json:"retry,omitempty"`
	Deleted    bool            `json:"deleted,omitempty"`
	VLANs      []int           `json:"vlans,omitempty"`
	NoNADs     string          `json:"noNADs,omitempty"`
	// Probes is the ClusterNetwork's spec.probes, in the API's JSON form.
	Probes json.RawMessage `json:"probes,omitempty"`
}

// PendingChange is the on-disk form of Pending.
type PendingChange struct {
	Previous Input   `json:"previous"`
	Next     Input   `json:"next"`
	Probes   []Probe `json:"probes"`
	Deadline string  `json:"deadline"` // RFC 3339, UTC, nanoseconds
	Step     string  `json:"step"`
}

// Probe is the on-disk form of a probe.Probe.
type Probe struct {
	Kind    string `json:"kind"`
	Target  string `json:"target,omitempty"`
	Gateway bool   `json:"gateway,omitempty"`
}

// Rollback is the on-disk form of RolledBack.
type Rollback struct {
	Generation int64  `json:"generation"`
	Retry      string `json:"retry,omitempty"`
	Probe      string `json:"probe"`
	Why        string `json:"why,omitempty"`
	Step       string `json:"step"`
	Time       string `json:"time"`
}

var probeKinds = map[probe.Kind]bool{probe.ARP: true, probe.NDP: true, probe.ICMP: true, probe.TCP: true, probe.API: true}

func fromInput(in desired.Input) (Input, error) {
	spec, err := json.Marshal(in.Spec)
	if err != nil {
		return Input{}, err
	}
	out := Input{Spec: spec, Generation: in.Generation, Retry: in.Retry, Deleted: in.Deleted, VLANs: in.VLANs, NoNADs: in.NoNADs}
	if in.Probes.Targets != nil || in.Probes.TimeoutSeconds != 0 {
		if out.Probes, err = json.Marshal(in.Probes); err != nil {
			return Input{}, err
		}
	}
	return out, nil
}

func toInput(in Input) (desired.Input, error) {
	out := desired.Input{Generation: in.Generation, Retry: in.Retry, Deleted: in.Deleted, VLANs: in.VLANs, NoNADs: in.NoNADs}
	if len(in.Spec) == 0 || string(in.Spec) == "null" {
		return out, errors.New("an input without a spec")
	}
	if err := strict(in.Spec, &out.Spec); err != nil {
		return out, fmt.Errorf("spec: %w", err)
	}
	if len(in.Probes) > 0 {
		var p v1alpha1.ProbeSpec
		if err := strict(in.Probes, &p); err != nil {
			return out, fmt.Errorf("probes: %w", err)
		}
		out.Probes = p
	}
	return out, nil
}

func fromState(s State) (FileV2, error) {
	u, err := fromCarried(s.Uplinks)
	if err != nil {
		return FileV2{}, err
	}
	f := FileV2{Version: Version, Uplinks: u}
	if s.Applied != nil {
		in, err := fromInput(*s.Applied)
		if err != nil {
			return f, err
		}
		f.Applied = &in
	}
	if p := s.Pending; p != nil {
		pc := PendingChange{Deadline: p.Deadline.UTC().Format(time.RFC3339Nano), Step: p.Step, Probes: []Probe{}}
		if pc.Previous, err = fromInput(p.Previous); err != nil {
			return f, err
		}
		if pc.Next, err = fromInput(p.Next); err != nil {
			return f, err
		}
		for _, pr := range p.Probes {
			pc.Probes = append(pc.Probes, Probe{Kind: string(pr.Kind), Target: pr.Target, Gateway: pr.Gateway})
		}
		f.Pending = &pc
	}
	if r := s.RolledBack; r != nil {
		f.RolledBack = &Rollback{Generation: r.Generation, Retry: r.Retry, Probe: r.Probe, Why: r.Why, Step: r.Step, Time: r.Time.UTC().Format(time.RFC3339Nano)}
	}
	return f, nil
}

func toState(f FileV2) (State, error) {
	var s State
	var err error
	if s.Uplinks, err = toCarried(f.Uplinks); err != nil {
		return s, err
	}
	if f.Applied != nil {
		in, err := toInput(*f.Applied)
		if err != nil {
			return s, fmt.Errorf("applied input: %w", err)
		}
		s.Applied = &in
	}
	if pc := f.Pending; pc != nil {
		p := &Pending{Step: pc.Step}
		if p.Previous, err = toInput(pc.Previous); err != nil {
			return s, fmt.Errorf("pending change: previous input: %w", err)
		}
		if p.Next, err = toInput(pc.Next); err != nil {
			return s, fmt.Errorf("pending change: next input: %w", err)
		}
		if p.Deadline, err = time.Parse(time.RFC3339Nano, pc.Deadline); err != nil {
			return s, fmt.Errorf("pending change: deadline: %w", err)
		}
		for _, pr := range pc.Probes {
			if !probeKinds[probe.Kind(pr.Kind)] {
				return s, fmt.Errorf("pending change: unknown probe kind %q", pr.Kind)
			}
			p.Probes = append(p.Probes, probe.Probe{Kind: probe.Kind(pr.Kind), Target: pr.Target, Gateway: pr.Gateway})
		}
		s.Pending = p
	}
	if r := f.RolledBack; r != nil {
		t, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil {
			return s, fmt.Errorf("rollback: time: %w", err)
		}
		s.RolledBack = &RolledBack{Generation: r.Generation, Retry: r.Retry, Probe: r.Probe, Why: r.Why, Step: r.Step, Time: t}
	}
	return s, nil
}
