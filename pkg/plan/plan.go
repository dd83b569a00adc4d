package plan

import (
	"slices"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// Phase is a group of actions with one job. Each phase becomes a condition.
type Phase string

const (
	PhaseBridge   Phase = "Bridge"
	PhaseBond     Phase = "Bond"
	PhaseUplink   Phase = "Uplink"
	PhaseVLANs    Phase = "VLANs"
	PhaseDHCP     Phase = "DHCP"
	PhaseBridgeNF Phase = "BridgeNetfilter"
	PhaseForward  Phase = "Forward"
)

// Capability is a kernel or userspace feature some actions need.
type Capability string

const (
	CapVLANFiltering Capability = "VLANFiltering"
	CapBroute        Capability = "Broute"
	CapIPTables      Capability = "IPTables"
	CapBonding       Capability = "Bonding"
)

// Missing maps each capability the host lacks to a sentence saying why.
type Missing map[Capability]string

// Input is everything a plan is made from.
type Input struct {
	Desired desired.State
	Host    *hoststate.State
	Missing Missing
	// Enslaved are the NICs harvnet itself enslaved to the bridge earlier,
	// so that switching NICs releases a veth uplink but never a VM's veth.
	Enslaved []string
	// Carried is, for each NIC harvnet enslaved, the permanent addresses and
	// routes it moved onto the bridge. They are put back where they belong
	// even if the bridge, and everything on it, was deleted under harvnet.
	Carried map[string]Carried
	// Foreign is set when the bridge exists and is not harvnet's (see
	// Ownership), saying so: nothing on it or of it is changed, and only
	// NICs the state file records are released.
	Foreign string
	// MarkBridge asks for harvnet's mark on a bridge that is harvnet's by
	// the state file only (made by an older harvnet).
	MarkBridge bool
}

// Carried is a NIC's own configuration that lives on the bridge while the
// NIC is its uplink. Its on-disk form is pkg/checkpoint's, not this.
type Carried struct {
	Addrs  hoststate.Addrs
	Routes []hoststate.Route
}

// Step is one phase's actions. Skipped says why the phase cannot be done at
// all; Lacks says what of it the kernel cannot do while the rest is done
// (a bridge without vlan_filtering still bridges), so status never reads
// "nothing left to do" as "all done"; Note says something an operator
// should know even when all is done.
type Step struct {
	Phase    Phase
	Requires []Phase
	Actions  []Action
	Skipped  string
	// Reason is the condition reason for Skipped; "" is ReasonUnsupported.
	Reason string
	Lacks  string
	Note   string
}

// Plan is the ordered list of steps.
type Plan []Step

// Empty reports whether the plan changes nothing on the host.
func (p Plan) Empty() bool {
	for _, s := range p {
		if len(s.Actions) > 0 {
			return false
		}
	}
	return true
}

// Compute returns the steps that turn in.Host into in.Desired.
func Compute(in Input) Plan {
	if in.Desired.Teardown {
		return teardown(in)
	}
	br := bridgeStep(in)
	p := Plan{br, bondStep(in), uplinkStep(in), vlanStep(in), dhcpStep(in), bridgeNFStep(in), forwardStep(in)}
	if br.Skipped != "" {
		// Nothing may be moved onto a link that is not our bridge, nor
		// the host's bridge netfilter set for one that is not ours.
		for i := range p {
			if slices.Contains(p[i].Requires, PhaseBridge) || p[i].Phase == PhaseDHCP || in.Foreign != "" && p[i].Phase == PhaseBridgeNF {
				p[i] = Step{Phase: p[i].Phase, Requires: p[i].Requires, Skipped: "the bridge cannot be set up: " + br.Skipped, Reason: br.Reason}
			}
		}
		return p
	}
	if bond := p[1]; bond.Skipped != "" {
		// Without the bond there is no uplink to enslave, nor to put VLANs
		// and DHCP rules on; the bridge and the rest are still done.
		skipped := map[Phase]bool{PhaseBond: true}
		for i := range p {
			if slices.ContainsFunc(p[i].Requires, func(r Phase) bool { return skipped[r] }) {
				p[i] = Step{Phase: p[i].Phase, Requires: p[i].Requires, Skipped: bond.Skipped}
				skipped[p[i].Phase] = true
			}
		}
	}
	return p
}

func teardown(in Input) Plan {
	del, dhcp := deleteBridgeStep(in), dhcpStep(in)
	if in.Foreign != "" {
		// Its broute rules are its owner's too.
		del = Step{Phase: PhaseBridge, Requires: del.Requires, Skipped: in.Foreign, Reason: ReasonNotOwned}
		dhcp = Step{Phase: PhaseDHCP, Requires: dhcp.Requires}
	}
	return Plan{
		{Phase: PhaseUplink, Actions: releaseAll(in)},
		dhcp,
		forwardStep(in),
		del,
	}
}
