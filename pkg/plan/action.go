package plan

import (
	"fmt"
	"strings"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// Op is one kind of host change.
type Op string

// The host changes harvnet makes. Links are named, not indexed, so a plan
// made before a link exists can still refer to it.
const (
	CreateBridge     Op = "CreateBridge"
	SetVLANFiltering Op = "SetVLANFiltering"
	SetUp            Op = "SetUp"
	SetDown          Op = "SetDown"
	CreateBond       Op = "CreateBond"
	SetBondOptions   Op = "SetBondOptions"
	SetMTU           Op = "SetMTU"
	SetMAC           Op = "SetMAC"
	SetAlias         Op = "SetAlias"
	AddAddr          Op = "AddAddr"
	DelAddr          Op = "DelAddr"
	AddRoute         Op = "AddRoute"
	DelRoute         Op = "DelRoute"
	SetMaster        Op = "SetMaster"
	SetNoMaster      Op = "SetNoMaster"
	DeleteLink       Op = "DeleteLink"
	AddVLANs         Op = "AddVLANs"
	DelVLANs         Op = "DelVLANs"
	AddDHCPRule      Op = "AddDHCPRule"
	DelDHCPRule      Op = "DelDHCPRule"
	SetBridgeNFCall  Op = "SetBridgeNFCallIPTables"
	// DelForwardAccept removes the FORWARD accept rules of older agents.
	DelForwardAccept Op = "DelForwardAccept"
)

// Action is one host change. Only the fields its Op needs are set.
type Action struct {
	Op     Op
	Link   string
	Master string
	MTU    int
	MAC    string
	Alias  string
	Addr   hoststate.Addr
	Route  hoststate.Route
	VIDs   []Range
	Rule   hoststate.DHCPRule
	Value  int
	// Backend is the iptables backend a Forward action is for.
	Backend string
	// Owner is the NIC whose address or route an AddAddr or AddRoute moves.
	Owner string
	// Bond is what CreateBond and SetBondOptions set; Changes names the
	// options SetBondOptions changes and Restart what the kernel needs
	// for them.
	Bond    *desired.Bond
	Changes []string
	Restart Restart
}

// Restart is what a bond option change costs: the kernel takes some only
// on a down bond, the mode only on a down bond without slaves.
type Restart int

const (
	RestartNone Restart = iota
	// RestartDown sets the bond down and up again around the change.
	RestartDown
	// RestartWithoutSlaves also releases the slaves first (separate
	// actions) and the plan enslaves them again after.
	RestartWithoutSlaves
)

// Range is an inclusive range of VLAN IDs.
type Range struct{ From, To int }

func (r Range) String() string {
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// String says what the action does, for logs and Events.
func (a Action) String() string {
	switch a.Op {
	case CreateBridge:
		return "create bridge " + a.Link
	case SetVLANFiltering:
		return "turn on vlan_filtering on " + a.Link
	case SetUp:
		return "set " + a.Link + " up"
	case SetDown:
		return "set " + a.Link + " down"
	case CreateBond:
		return fmt.Sprintf("create bond %s (%s)", a.Link, bondOpts(a.Bond))
	case SetBondOptions:
		s := fmt.Sprintf("change %s of bond %s to %s", strings.Join(a.Changes, ", "), a.Link, bondOpts(a.Bond))
		switch a.Restart {
		case RestartDown:
			s += "; the kernel takes lacp_rate and ad_select only on a down bond, so it is down for a moment and the uplink with it"
		case RestartWithoutSlaves:
			s += "; the kernel changes the mode only on a down bond without slaves, so its slaves were released and are enslaved again: the uplink is down for a moment"
		}
		return s
	case SetMTU:
		return fmt.Sprintf("set MTU of %s to %d", a.Link, a.MTU)
	case SetMAC:
		return fmt.Sprintf("set MAC of %s to %s", a.Link, a.MAC)
	case SetAlias:
		return fmt.Sprintf("mark %s as harvnet's (ifalias %q)", a.Link, a.Alias)
	case AddAddr:
		return fmt.Sprintf("add address %s to %s", a.Addr.Prefix, a.Link)
	case DelAddr:
		return fmt.Sprintf("remove address %s from %s", a.Addr.Prefix, a.Link)
	case AddRoute:
		return "add route " + a.Route.Format(a.Link)
	case DelRoute:
		return "remove route " + a.Route.Format(a.Link)
	case SetMaster:
		return fmt.Sprintf("enslave %s to %s", a.Link, a.Master)
	case SetNoMaster:
		if a.Master != "" {
			return "release " + a.Link + " from " + a.Master
		}
		return "release " + a.Link + " from its bridge"
	case DeleteLink:
		return "delete " + a.Link
	case AddVLANs, DelVLANs:
		verb := map[Op]string{AddVLANs: "allow", DelVLANs: "remove"}[a.Op]
		return fmt.Sprintf("%s VLANs %s on %s", verb, joinRanges(a.VIDs), a.Link)
	case AddDHCPRule, DelDHCPRule:
		verb := map[Op]string{AddDHCPRule: "add", DelDHCPRule: "remove"}[a.Op]
		return fmt.Sprintf("%s DHCP broute rule for %s (%s MAC %s)", verb, a.Rule.NIC, a.Rule.Dir, a.Rule.MAC)
	case SetBridgeNFCall:
		return fmt.Sprintf("set net.bridge.bridge-nf-call-iptables to %d", a.Value)
	case DelForwardAccept:
		return fmt.Sprintf("remove an older agent's forward accept rules of %s (iptables %s)", a.Link, a.Backend)
	}
	return string(a.Op) + " " + a.Link
}

func bondOpts(b *desired.Bond) string {
	if b == nil {
		return ""
	}
	s := fmt.Sprintf("mode %s, miimon %d", b.Mode, b.Miimon)
	for _, o := range []struct{ k, v string }{{"lacp_rate", b.LACPRate}, {"ad_select", b.ADSelect}, {"xmit_hash_policy", b.XmitHashPolicy}} {
		if o.v != "" {
			s += ", " + o.k + " " + o.v
		}
	}
	return s
}

func joinRanges(rs []Range) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ",")
}
