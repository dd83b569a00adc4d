package desired

import (
	"fmt"
	"strings"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// CheckUplink checks the desired uplink against what the host has. A refused
// uplink must leave the host untouched, so this runs before any planning.
func CheckUplink(st State, host *hoststate.State, opts Options) error {
	if st.Teardown || st.Uplink == "" {
		return nil
	}
	l, ok := host.Link(st.Uplink)
	if !ok {
		return Invalidf(ReasonNICNotFound, "NIC %q does not exist on this node; pick one from status.nics", st.Uplink)
	}
	if reason, why := Unusable(l, host, st.Bridge, opts); reason != "" {
		return Invalidf(reason, "NIC %q cannot be the uplink: %s", st.Uplink, why)
	}
	return nil
}

// Unusable says why a link cannot be the uplink of bridge, as a condition
// reason and a sentence, or "" if it can. A slave of harvnet's own bond
// is usable: the bond is harvnet's to take apart.
func Unusable(l hoststate.Link, host *hoststate.State, bridge string, opts Options) (reason, why string) {
	switch {
	case l.Loopback:
		return ReasonInvalidNIC, "it is the loopback interface"
	case l.Name == bridge:
		return ReasonInvalidNIC, "it is the VLAN bridge itself"
	case !opts.UplinkTypeAllowed(l.Type):
		return ReasonNICTypeNotAllowed, "links of type " + l.Type + " are not accepted as uplinks (agent option --uplink-types)"
	}
	if l.MasterIndex != 0 {
		if m, _ := host.LinkByIndex(l.MasterIndex); m.Name != bridge && m.Name != opts.Bond() {
			return ReasonNICEnslavedElsewhere, "it is already enslaved to " + m.Name
		}
		return "", ""
	}
	if carrying, rxHandlers := uppers(l, host); len(carrying) > 0 || len(rxHandlers) > 0 {
		var why []string
		if len(carrying) > 0 {
			why = append(why, "the node's traffic runs over "+strings.Join(carrying, ", ")+
				" stacked on it; as a bridge port the NIC would hand their frames to the bridge and cut that traffic off")
		}
		if len(rxHandlers) > 0 {
			why = append(why, strings.Join(rxHandlers, ", ")+" on it takes the NIC's receive path, so the kernel refuses it as a bridge port (EBUSY)")
		}
		return ReasonNICHasUpperDevices, strings.Join(why, "; ") +
			". Move those devices and addresses off it (onto a VLAN of the bridge, or another NIC) or pick another NIC"
	}
	return "", ""
}

// uppers names the links stacked on l that stop it from being a bridge
// port: VLAN, macvlan and ipvlan links that hold an address identifying the
// node (with those addresses), and macvlan and ipvlan links of any kind,
// which own the NIC's receive handler that a bridge port needs.
func uppers(l hoststate.Link, host *hoststate.State) (carrying, rxHandlers []string) {
	for _, u := range host.Uppers(l.Index) {
		var addrs []string
		for _, a := range u.GlobalAddrs() {
			addrs = append(addrs, a.Prefix.String())
		}
		switch {
		case len(addrs) > 0:
			carrying = append(carrying, fmt.Sprintf("%s %s (%s)", u.Type, u.Name, strings.Join(addrs, " ")))
		case u.Type != "vlan":
			rxHandlers = append(rxHandlers, u.Type+" "+u.Name)
		}
	}
	return carrying, rxHandlers
}
