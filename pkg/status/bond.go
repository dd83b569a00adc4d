package status

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// ReasonDegraded is an uplink that carries traffic with less than all it
// was given: a bond slave down, or under 802.3ad outside the aggregator.
const ReasonDegraded = "Degraded"

// bondStatus is a bond and its slaves as the kernel reports them.
func bondStatus(h *hoststate.State, l hoststate.Link) *v1alpha1.BondStatus {
	if l.Bond == nil {
		return nil
	}
	bs := &v1alpha1.BondStatus{Mode: v1alpha1.BondMode(l.Bond.Mode), ActiveSlave: l.Bond.ActiveSlave, Miimon: l.Bond.Miimon}
	for _, s := range h.Ports(l.Name) {
		ss := v1alpha1.BondSlaveStatus{Name: s.Name, LinkStatus: slaveState(s), SpeedMbps: s.SpeedMbps, Duplex: s.Duplex}
		if sl := s.BondSlave; sl != nil {
			ss.LinkFailureCount = sl.LinkFailureCount
			if l.Bond.Mode == string(v1alpha1.BondMode8023AD) {
				ss.AggregatorID = sl.AggregatorID
				in := sl.AggregatorID != 0 && sl.AggregatorID == l.Bond.AggregatorID
				ss.InActiveAggregator = &in
				ss.PartnerMAC = sl.PartnerMAC
			}
		}
		bs.Slaves = append(bs.Slaves, ss)
	}
	return bs
}

// slaveState is a slave's link as the bond sees it: MII status when the
// bond monitors it (the bond's own view decides failover), else carrier.
func slaveState(s hoststate.Link) v1alpha1.LinkState {
	if s.BondSlave != nil && s.BondSlave.MIIStatus != "" {
		if s.BondSlave.MIIStatus == "up" {
			return v1alpha1.LinkUp
		}
		return v1alpha1.LinkDown
	}
	return LinkState(s)
}

// bondProblems lists, per slave, what keeps it from carrying traffic.
func bondProblems(bs *v1alpha1.BondStatus) (up int, problems []string) {
	for _, s := range bs.Slaves {
		switch {
		case s.LinkStatus != v1alpha1.LinkUp:
			problems = append(problems, s.Name+" "+string(s.LinkStatus))
		case s.InActiveAggregator != nil && !*s.InActiveAggregator:
			why := "its switch port is not in the LAG, or the switch does not answer LACP"
			if s.PartnerMAC != "" && strings.Trim(s.PartnerMAC, "0:") == "" {
				why = "no LACP partner: its switch port is not in the LAG"
			} else if s.PartnerMAC != "" {
				why = "partner " + s.PartnerMAC + ": another switch or LAG than the active aggregator's"
			}
			problems = append(problems, fmt.Sprintf("%s not in the active 802.3ad aggregator (aggregator %d; %s)", s.Name, s.AggregatorID, why))
		default:
			up++
		}
	}
	return up, problems
}

// BondState is the one-line summary for `kubectl get -o wide`: "up 2/2",
// "degraded 1/2: eth1 down", "down 0/2: ...".
func BondState(bs *v1alpha1.BondStatus) string {
	if bs == nil {
		return ""
	}
	up, problems := bondProblems(bs)
	state := "up"
	switch {
	case up == 0:
		state = "down"
	case len(problems) > 0:
		state = "degraded"
	}
	s := fmt.Sprintf("%s %d/%d", state, up, len(bs.Slaves))
	if len(problems) > 0 {
		short := make([]string, len(problems))
		for i, p := range problems {
			short[i], _, _ = strings.Cut(p, " (")
		}
		s += ": " + strings.Join(short, ", ")
	}
	return s
}

// bondCondition is UplinkReady for harvnet's bond: Ready while every
// slave carries traffic, Degraded (still True: the uplink works) naming
// the slaves that do not, NoCarrier when none does.
func bondCondition(res reconcile.Result, l hoststate.Link) metav1.Condition {
	t := v1alpha1.ConditionUplinkReady
	b := res.Desired.Bond
	bs := bondStatus(res.Host, l)
	if bs == nil {
		// The observer could not read the bond's state: say only what is known.
		return condition(t, true, ReasonReady, fmt.Sprintf("bond %s of %s is enslaved to %s and up", b.Name, strings.Join(b.Slaves, ", "), res.Desired.Bridge))
	}
	up, problems := bondProblems(bs)
	if up == 0 {
		return condition(t, false, ReasonNoCarrier, fmt.Sprintf("bond %s is enslaved to %s but none of its slaves carries traffic: %s; check the cables and the switch ports", b.Name, res.Desired.Bridge, strings.Join(problems, "; ")))
	}
	msg := fmt.Sprintf("bond %s (%s) is enslaved to %s and up on %d of %d slaves", b.Name, bs.Mode, res.Desired.Bridge, up, len(bs.Slaves))
	if bs.ActiveSlave != "" {
		msg += ", active slave " + bs.ActiveSlave
	}
	if len(problems) > 0 {
		return condition(t, true, ReasonDegraded, msg+": "+strings.Join(problems, "; "))
	}
	return condition(t, true, ReasonReady, msg)
}
