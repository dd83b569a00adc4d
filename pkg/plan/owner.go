package plan

import (
	"fmt"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// OwnerAlias is the ifalias harvnet gives the links it creates. The kernel
// ignores IFLA_IFALIAS in the message that creates a link, so hostnet
// creates the bridge under a name only harvnet uses, marks it, then gives
// it its name: a bridge named like harvnet's never exists unmarked because
// of a crash.
const OwnerAlias = "harvnet"

// ReasonNotOwned is the condition reason of a bridge that exists and is not
// harvnet's.
const ReasonNotOwned = "NotOwned"

// Ownership says whether the bridge named bridge is harvnet's to change.
// It is when it does not exist yet, when it carries harvnet's mark, or when
// the state file records a NIC harvnet enslaved (a bridge created by a
// harvnet from before the mark: mark is then true, so the plan marks it).
// Otherwise foreign says so, and what the node's admin can do.
func Ownership(host *hoststate.State, bridge string, recorded []string) (foreign string, mark bool) {
	br, ok := host.Link(bridge)
	alias := br.Alias
	switch {
	case !ok || br.Type != "bridge" || alias == OwnerAlias:
		return "", false
	case len(recorded) > 0:
		return "", true
	}
	return fmt.Sprintf("bridge %s exists and is not harvnet's: it does not carry harvnet's mark (ifalias %q, not %q) and the state file records no NIC harvnet enslaved to it, so harvnet leaves it and its ports as they are. "+
		"If nothing uses it, delete it (ip link del %s); to hand it over to harvnet, mark it (ip link set dev %s alias %s)",
		bridge, alias, OwnerAlias, bridge, bridge, OwnerAlias), false
}
