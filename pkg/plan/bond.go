package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// bondStep creates harvnet's bond and keeps its options, MTU and state as
// the spec says. Its slaves are the uplink step's: they move with the
// node's addresses.
func bondStep(in Input) Step {
	s := Step{Phase: PhaseBond}
	b := in.Desired.Bond
	if b == nil {
		return s
	}
	if why := in.Missing[CapBonding]; why != "" {
		s.Skipped = fmt.Sprintf("bond %s of %s cannot be built: %s", b.Name, strings.Join(b.Slaves, ", "), why)
		return s
	}
	l, exists := in.Host.Link(b.Name)
	if exists && (l.Type != "bond" || !ownBond(in, l)) {
		s.Skipped = fmt.Sprintf("a %s link named %s exists and is not harvnet's bond (no %q alias); rename or delete it, or give the agent another --bond-name", l.Type, l.Name, OwnerAlias)
		return s
	}
	if !exists {
		s.add(Action{Op: CreateBond, Link: b.Name, Bond: b, MAC: newBondMAC(in), MTU: in.Desired.MTU})
		s.add(Action{Op: SetUp, Link: b.Name})
		return s
	}
	s.add(bondOptionActions(in, l, *b)...)
	if !l.AdminUp {
		s.add(Action{Op: SetUp, Link: b.Name})
	}
	return s
}

// ownBond reports whether a bond is harvnet's: marked when harvnet made
// it, or in the record of links it enslaved (the mark is lost when
// someone changes the alias, the record when the state file goes).
func ownBond(in Input, l hoststate.Link) bool {
	return l.Type == "bond" && (l.Alias == OwnerAlias || slices.Contains(in.Enslaved, l.Name))
}

// newBondMAC is the MAC a new bond gets: that of the slave carrying the
// node's addresses (or already the bridge's port), so neighbours' ARP
// caches stay right while the addresses move; else the first slave's.
func newBondMAC(in Input) string {
	br, _ := bridge(in)
	first := ""
	for _, n := range in.Desired.Bond.Slaves {
		l, ok := in.Host.Link(n)
		if !ok {
			continue
		}
		if first == "" {
			first = l.MAC
		}
		if holdsConfig(in, l) || (br.Index != 0 && l.MasterIndex == br.Index) {
			return l.MAC
		}
	}
	return first
}

// bondOptionActions changes what differs from the spec. The kernel takes
// miimon and xmit_hash_policy on a live bond, lacp_rate and ad_select only
// on a down one, and the mode only on a down bond without slaves: those
// are done in one down-up, with the slaves released and taken back for a
// mode, and the action says so (it is the Event's text).
func bondOptionActions(in Input, l hoststate.Link, b desired.Bond) []Action {
	if l.Bond == nil {
		return nil
	}
	have := *l.Bond
	var diff []string
	want := b
	if have.Mode != b.Mode {
		diff = append(diff, "mode")
	}
	if have.Miimon != b.Miimon {
		diff = append(diff, "miimon")
	}
	if b.LACPRate != "" && have.LACPRate != b.LACPRate {
		diff = append(diff, "lacp_rate")
	}
	if b.ADSelect != "" && have.ADSelect != b.ADSelect {
		diff = append(diff, "ad_select")
	}
	if b.XmitHashPolicy != "" && have.XmitHashPolicy != b.XmitHashPolicy {
		diff = append(diff, "xmit_hash_policy")
	}
	if len(diff) == 0 {
		return nil
	}
	a := Action{Op: SetBondOptions, Link: b.Name, Bond: &want, Changes: diff}
	switch {
	case slices.Contains(diff, "mode"):
		a.Restart = RestartWithoutSlaves
	case slices.Contains(diff, "lacp_rate") || slices.Contains(diff, "ad_select"):
		a.Restart = RestartDown
	}
	if a.Restart != RestartWithoutSlaves {
		return []Action{a}
	}
	// The slaves leave and come back by name; what they carry stays on
	// the bridge, where it is.
	slaves := in.Host.Ports(b.Name)
	var out []Action
	for _, sl := range slaves {
		out = append(out, Action{Op: SetNoMaster, Link: sl.Name, Master: b.Name})
	}
	out = append(out, a)
	for _, sl := range slaves {
		out = append(out, Action{Op: SetDown, Link: sl.Name}, Action{Op: SetMaster, Link: sl.Name, Master: b.Name})
	}
	return out
}

// bondLink is the bond as observed, or as it will be once bondStep
// created it, so the uplink step can plan with it in the same pass.
func bondLink(in Input) hoststate.Link {
	b := in.Desired.Bond
	if l, ok := in.Host.Link(b.Name); ok {
		return l
	}
	mtu := in.Desired.MTU
	if mtu == 0 {
		mtu = 1500
	}
	return hoststate.Link{Name: b.Name, Type: "bond", MAC: newBondMAC(in), MTU: mtu, AdminUp: true}
}

// slaveActions makes the bond's slaves exactly the desired NICs, one slave
// at a time: NICs leaving give back what harvnet carries for them; NICs
// joining are enslaved down (the bond takes only down slaves and brings
// them up), those with nothing on them first, then a port of the bridge
// (the previous uplink, whose addresses stay on the bridge), then those
// carrying the node's addresses, which move onto the bridge as a single
// uplink's do: the bridge gets copies first, the NIC's own go last.
func slaveActions(in Input) []Action {
	b := in.Desired.Bond
	bond := bondLink(in)
	br, _ := bridge(in)
	var out []Action
	for _, sl := range in.Host.Ports(b.Name) {
		if !slices.Contains(b.Slaves, sl.Name) {
			out = append(out, releaseSlave(in, sl)...)
		}
	}
	var plain, ports, carrying []hoststate.Link
	for _, n := range b.Slaves {
		l, ok := in.Host.Link(n)
		if !ok {
			continue
		}
		inBond := bond.Index != 0 && l.MasterIndex == bond.Index
		switch {
		case holdsConfig(in, l):
			carrying = append(carrying, l)
		case inBond:
		case br.Index != 0 && l.MasterIndex == br.Index:
			ports = append(ports, l)
		default:
			plain = append(plain, l)
		}
	}
	join := func(l hoststate.Link) []Action {
		if bond.Index != 0 && l.MasterIndex == bond.Index {
			return nil
		}
		var a []Action
		if br.Index != 0 && l.MasterIndex == br.Index {
			a = append(a, Action{Op: SetNoMaster, Link: l.Name, Master: br.Name})
		}
		if l.AdminUp || (br.Index != 0 && l.MasterIndex == br.Index) {
			a = append(a, Action{Op: SetDown, Link: l.Name})
		}
		return append(a, Action{Op: SetMaster, Link: l.Name, Master: b.Name})
	}
	for _, l := range plain {
		out = append(out, join(l)...)
	}
	for _, l := range ports {
		out = append(out, join(l)...)
	}
	for _, l := range carrying {
		out = append(out, moveAddrsAndRoutes(in, l, in.Host.RoutesOf(l.Name), br, l.Name, func() []Action { return join(l) })...)
	}
	return out
}

// holdsConfig reports whether a NIC holds addresses or routes that are the
// node's: they must move to the bridge before it can be a slave.
func holdsConfig(in Input, l hoststate.Link) bool {
	return len(l.GlobalAddrs()) > 0 || len(copyableRoutes(in.Host.RoutesOf(l.Name))) > 0
}

// releaseSlave takes one NIC out of harvnet's bond. A NIC whose addresses
// and routes harvnet carries on the bridge gets them back, after it is
// out: leaving the bond closes it, which would flush routes put on it
// before. The bond's other slaves carry the bridge meanwhile.
func releaseSlave(in Input, sl hoststate.Link) []Action {
	var master string
	if m, ok := in.Host.LinkByIndex(sl.MasterIndex); ok {
		master = m.Name
	}
	out := []Action{{Op: SetNoMaster, Link: sl.Name, Master: master}, {Op: SetUp, Link: sl.Name}}
	c, ok := in.Carried[sl.Name]
	if !ok || c.empty() || (in.Desired.Bond == nil && sl.Name == in.Desired.Uplink) {
		// Nothing to give back, or the NIC becomes the bridge's port
		// itself: what it carries stays on the bridge.
		return out
	}
	br, _ := bridge(in)
	from, routes := c.CopiesOn(br, in.Host.RoutesOf(br.Name))
	// Nothing is on the NIC yet: what it holds now stays (it is a slave).
	to := hoststate.Link{Name: sl.Name}
	return append(out, moveAddrsAndRoutes(in, from, routes, to, sl.Name, func() []Action { return nil })...)
}

// takeBondApart releases harvnet's bond: its slaves one at a time (each
// NIC given back what harvnet carries for it), then the bond from the
// bridge, then the bond is deleted.
func takeBondApart(in Input, bond hoststate.Link) []Action {
	var out []Action
	for _, sl := range in.Host.Ports(bond.Name) {
		out = append(out, releaseSlave(in, sl)...)
	}
	br, _ := bridge(in)
	if br.Index != 0 && bond.MasterIndex == br.Index {
		out = append(out, Action{Op: SetNoMaster, Link: bond.Name, Master: br.Name})
	}
	return append(out, Action{Op: DeleteLink, Link: bond.Name})
}

// strayBond returns harvnet's bond when the spec no longer wants one and it
// is not the bridge's port (a pass that died between releasing it and
// deleting it): it is taken apart all the same.
func strayBond(in Input) (hoststate.Link, bool) {
	if in.Desired.Bond != nil || in.Desired.BondName == "" {
		return hoststate.Link{}, false
	}
	l, ok := in.Host.Link(in.Desired.BondName)
	if !ok || !ownBond(in, l) {
		return hoststate.Link{}, false
	}
	br, _ := bridge(in)
	if br.Index != 0 && l.MasterIndex == br.Index {
		return hoststate.Link{}, false // releasable() has it
	}
	return l, true
}

// isOurBond reports whether a bridge port is harvnet's bond.
func isOurBond(in Input, l hoststate.Link) bool {
	return l.Name == in.Desired.BondName && ownBond(in, l)
}

// bondHandles reports whether a NIC is to be a slave of the desired bond,
// or is a slave of harvnet's bond now: slaveActions and takeBondApart
// handle it, not the single uplink's release.
func bondHandles(in Input, l hoststate.Link) bool {
	if b := in.Desired.Bond; b != nil && slices.Contains(b.Slaves, l.Name) {
		return true
	}
	m, ok := in.Host.LinkByIndex(l.MasterIndex)
	return ok && isOurBond(in, m)
}

// mtuActions applies spec.network.mtu to the uplink (the NIC, or the bond
// and its slaves), the bridge and the bridge's other ports, the VMs'
// side: raised from the uplink out to the VMs, lowered the other way, so
// no link sends frames bigger than the next one takes.
func mtuActions(in Input) []Action {
	m := in.Desired.MTU
	if m == 0 {
		return nil
	}
	var nics, vms []Action
	set := func(to *[]Action, l hoststate.Link) {
		if l.MTU != m {
			*to = append(*to, Action{Op: SetMTU, Link: l.Name, MTU: m})
		}
	}
	uplinks := map[string]bool{}
	if b := in.Desired.Bond; b != nil {
		uplinks[b.Name] = true
		if l, ok := in.Host.Link(b.Name); ok {
			set(&nics, l) // the bond sets its slaves' too; a slave changed since is set below
		}
		for _, n := range b.Slaves {
			uplinks[n] = true
			if l, ok := in.Host.Link(n); ok {
				if bl, ok := in.Host.Link(b.Name); !ok || bl.MTU == m {
					set(&nics, l)
				}
			}
		}
	} else if u := in.Desired.Uplink; u != "" {
		uplinks[u] = true
		if l, ok := in.Host.Link(u); ok {
			set(&nics, l)
		}
	}
	br, exists := bridge(in)
	if !exists {
		br.MTU = 1500 // what the kernel gives a new bridge without ports
	}
	set(&vms, br)
	if exists {
		releasing := map[string]bool{}
		for _, p := range releasable(in) {
			releasing[p.Name] = true
		}
		// Only the ports without the MTU: a node's VM ports already have
		// it but for the few that changed (mtuActionsScan looks at all).
		for _, p := range in.Host.PortsWithoutMTU(br.Name, m) {
			if !uplinks[p.Name] && !releasing[p.Name] {
				set(&vms, p)
			}
		}
	}
	if m < br.MTU {
		return append(vms, nics...)
	}
	return append(nics, vms...)
}
