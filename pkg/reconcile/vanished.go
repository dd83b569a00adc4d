package reconcile

import (
	"fmt"
	"strings"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

// Reasons for an uplink the state file records that the host no longer
// has by that name.
const (
	ReasonNICVanished = "NICVanished"
	ReasonNICRenamed  = "NICRenamed"
)

// vanishedUplink explains a desired uplink that is missing from the host
// while the state file records it as harvnet's: it disappeared (unplugged,
// its driver unloaded, its veth deleted), possibly in the middle of being
// enslaved, or it was renamed while a port. A renamed NIC is still the
// bridge's port with the bridge's MAC (harvnet gave the bridge its NIC's),
// and the node's network is fine: nothing is done. A vanished NIC leaves
// copies of its addresses and routes on the bridge, some or all of them
// depending on when it went; they are taken off (the returned plan), so
// none is left half-moved, and the state file keeps them to give back if
// the NIC returns. It returns nil when the uplink is not harvnet's.
func vanishedUplink(d desired.State, host *hoststate.State, carried map[string]plan.Carried) (plan.Plan, *desired.InvalidError) {
	c, recorded := carried[d.Uplink]
	br, ok := host.Link(d.Bridge)
	if !recorded || !ok || br.Type != "bridge" {
		return nil, nil
	}
	for _, p := range host.Ports(d.Bridge) {
		if _, known := carried[p.Name]; p.MAC == br.MAC && !known {
			return nil, &desired.InvalidError{Reason: ReasonNICRenamed, Message: fmt.Sprintf(
				"NIC %q was renamed to %q while enslaved to %s (it is the port with the bridge's MAC %s); the node's network is as it was and harvnet changes nothing. "+
					"Set spec.network.nic to %q, or name the NIC by its permanent MAC or PCI address in spec.network.uplink, which a rename does not change",
				d.Uplink, p.Name, d.Bridge, br.MAC, p.Name)}
		}
	}
	copies, routes := c.CopiesOn(br, host.RoutesOf(br.Name))
	var acts []plan.Action
	for i := len(routes) - 1; i >= 0; i-- {
		acts = append(acts, plan.Action{Op: plan.DelRoute, Link: br.Name, Route: routes[i]})
	}
	var taken []string
	for _, a := range copies.Addrs {
		acts = append(acts, plan.Action{Op: plan.DelAddr, Link: br.Name, Addr: a})
		taken = append(taken, a.Prefix.String())
	}
	msg := fmt.Sprintf("NIC %q, harvnet's uplink on %s, has disappeared from the node (unplugged, its driver unloaded, or deleted)", d.Uplink, d.Bridge)
	if len(acts) > 0 {
		msg += fmt.Sprintf("; the bridge's copies of its configuration (%d routes, addresses %s) are taken off, so none is left half-moved", len(routes), strings.Join(taken, " "))
	}
	msg += "; the state file keeps its addresses and routes, which it gets back when it returns. Plug it back, or pick another NIC from status.nics"
	return plan.Plan{{Phase: plan.PhaseUplink, Actions: acts}}, &desired.InvalidError{Reason: ReasonNICVanished, Message: msg}
}

// adoptRenamed moves the record of a NIC that was renamed while enslaved
// to its new name once the spec names it: the desired uplink is a port of
// the bridge with the bridge's MAC that the record does not know, and
// exactly one recorded NIC is gone from the host. Its carried addresses
// and routes stay harvnet's to give back, under the name the NIC has now.
func (r *uplinkRecord) adoptRenamed(d desired.State, host *hoststate.State) {
	br, ok := host.Link(d.Bridge)
	nic, isNIC := host.Link(d.Uplink)
	if _, known := r.uplinks[d.Uplink]; known || !ok || !isNIC || nic.MasterIndex != br.Index || nic.MAC != br.MAC {
		return
	}
	var gone []string
	for n := range r.uplinks {
		if _, exists := host.Link(n); !exists {
			gone = append(gone, n)
		}
	}
	if len(gone) != 1 {
		return
	}
	r.uplinks[d.Uplink] = r.uplinks[gone[0]]
	delete(r.uplinks, gone[0])
	_ = r.save() // best effort, as prune: the next pass tries again
}

// missingUplink returns d with the uplink the spec names by interface
// name, or, when it names NICs by MAC or PCI address that no longer
// resolve, the one recorded NIC the host no longer has (if exactly one).
func (r *uplinkRecord) missingUplink(d desired.State, host *hoststate.State) desired.State {
	if d.Uplink != "" {
		return d
	}
	var gone []string
	for n := range r.uplinks {
		if _, ok := host.Link(n); !ok {
			gone = append(gone, n)
		}
	}
	if len(gone) == 1 {
		d.Uplink = gone[0]
	}
	return d
}
