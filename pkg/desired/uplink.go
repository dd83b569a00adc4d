package desired

import (
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
// reason and a sentence, or "" if it can.
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
		if m, _ := host.LinkByIndex(l.MasterIndex); m.Name != bridge {
			return ReasonNICEnslavedElsewhere, "it is already enslaved to " + m.Name
		}
	}
	return "", ""
}
