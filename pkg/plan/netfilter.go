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

// forwardStep keeps forwarding through the bridge open when the FORWARD
// policy is DROP (as Docker and some firewalls set it), and removes
// harvnet's rules on teardown.
func forwardStep(in Input, keep bool) Step {
	s := Step{Phase: PhaseForward}
	br := in.Desired.Bridge
	if why := in.Missing[CapIPTables]; why != "" {
		if keep {
			s.Skipped = "the iptables FORWARD chain cannot be checked: " + why
		}
		return s
	}
	// Each backend on its own: ACCEPT rules in one do not get past a DROP
	// policy in the other.
	for _, f := range in.Host.Forward {
		has := slices.Contains(f.AcceptIn, br) && slices.Contains(f.AcceptOut, br)
		had := slices.Contains(f.AcceptIn, br) || slices.Contains(f.AcceptOut, br)
		switch {
		case keep && f.Policy == "DROP" && !has:
			s.add(Action{Op: AddForwardAccept, Link: br, Backend: f.Backend})
		case !keep && had:
			s.add(Action{Op: DelForwardAccept, Link: br, Backend: f.Backend})
		}
	}
	return s
}
