package plan

import (
	"strings"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// bridge returns the bridge as observed, or a zero link with its name if it
// does not exist yet: a plan that creates it starts from an empty bridge.
func bridge(in Input) (hoststate.Link, bool) {
	name := in.Desired.Bridge
	if l, ok := in.Host.Link(name); ok {
		return l, true
	}
	return hoststate.Link{Name: name, Type: "bridge"}, false
}

func bridgeStep(in Input) Step {
	br, exists := bridge(in)
	s := Step{Phase: PhaseBridge}
	if in.Foreign != "" {
		s.Skipped, s.Reason = in.Foreign, ReasonNotOwned
		return s
	}
	if exists && br.Type != "bridge" {
		s.Skipped = "a " + br.Type + " link named " + br.Name + " exists and is not a bridge; rename or delete it"
		return s
	}
	if !exists {
		s.add(Action{Op: CreateBridge, Link: br.Name})
	}
	if exists && in.MarkBridge {
		s.add(Action{Op: SetAlias, Link: br.Name, Alias: OwnerAlias})
	}
	if br.VLANFiltering == nil || !*br.VLANFiltering {
		if why := in.Missing[CapVLANFiltering]; why != "" {
			s.Lacks = br.Name + " bridges untagged traffic only, without vlan_filtering: " + why
		} else {
			s.add(Action{Op: SetVLANFiltering, Link: br.Name})
		}
	}
	if !br.AdminUp {
		s.add(Action{Op: SetUp, Link: br.Name})
	}
	return s
}

func deleteBridgeStep(in Input) Step {
	s := Step{Phase: PhaseBridge, Requires: []Phase{PhaseUplink}}
	br, exists := bridge(in)
	if !exists || br.Type != "bridge" {
		return s
	}
	var others []string
	releasing := map[string]bool{}
	for _, p := range releasable(in) {
		releasing[p.Name] = true
	}
	for _, p := range in.Host.Ports(br.Name) {
		if !releasing[p.Name] {
			others = append(others, p.Name)
		}
	}
	if len(others) > 0 {
		s.Note = "bridge " + br.Name + " is kept because other interfaces are still attached to it (VMs?): " + strings.Join(others, ", ")
		return s
	}
	s.add(Action{Op: DeleteLink, Link: br.Name})
	return s
}

func (s *Step) add(a ...Action) { s.Actions = append(s.Actions, a...) }
