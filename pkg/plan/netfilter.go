package plan

import (
	"slices"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

func dhcpStep(in Input) Step {
	s := Step{Phase: PhaseDHCP, Requires: []Phase{PhaseUplink}}
	var want []hoststate.DHCPRule
	if nic, ok := in.Host.Link(in.Desired.Uplink); ok && !in.Desired.Teardown {
		for _, dir := range []string{hoststate.DirSrc, hoststate.DirDst} {
			want = append(want, hoststate.DHCPRule{NIC: nic.Name, MAC: nic.MAC, Dir: dir})
		}
	}
	if why := in.Missing[CapBroute]; why != "" {
		if len(want) > 0 {
			s.Skipped = "DHCP broute rules for " + in.Desired.Uplink + " cannot be added: " + why
		}
		return s
	}
	for _, r := range in.Host.DHCPRules {
		if !slices.Contains(want, r) {
			s.add(Action{Op: DelDHCPRule, Link: r.NIC, Rule: r})
		}
	}
	for _, r := range want {
		if !slices.Contains(in.Host.DHCPRules, r) {
			s.add(Action{Op: AddDHCPRule, Link: r.NIC, Rule: r})
		}
	}
	return s
}

func bridgeNFStep(in Input) Step {
	s := Step{Phase: PhaseBridgeNF}
	switch v := in.Host.BridgeNFCallIPTables; {
	case v == nil:
		s.Note = "br_netfilter is not loaded, so bridged VM traffic does not pass iptables"
	case *v != 0:
		s.add(Action{Op: SetBridgeNFCall, Value: 0})
	}
	return s
}

// forwardStep removes the FORWARD accept rules older agents inserted
// first in the chain (-i/-o bridge -j ACCEPT); harvnet adds none now. With
// the management NIC as a port the bridge carries the node's own routed
// traffic, and those rules let it skip every rule after them (the CNI's
// network policies, a firewall's DROP). Bridged VM traffic does not need
// them: with bridge-nf-call-iptables at 0 (bridgeNFStep) it never reaches
// iptables. A FORWARD DROP policy that would matter if it did is the host
// network doctor's to report, not harvnet's to open.
func forwardStep(in Input) Step {
	s := Step{Phase: PhaseForward}
	br := in.Desired.Bridge
	if in.Missing[CapIPTables] != "" {
		// No iptables: no rules of an older agent to remove either.
		return s
	}
	// Each backend on its own: an older agent added rules wherever the
	// policy was DROP.
	for _, f := range in.Host.Forward {
		if slices.Contains(f.AcceptIn, br) || slices.Contains(f.AcceptOut, br) {
			s.add(Action{Op: DelForwardAccept, Link: br, Backend: f.Backend})
		}
	}
	return s
}
