package agent

import (
	"fmt"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/nad"
)

// nadAsk is what the cluster's NADs ask of this node's bridge.
type nadAsk struct {
	vlans []int
	mtus  []desired.NADMTU
	// unavailable says why no NAD can be read (the cluster serves none).
	unavailable string
}

// nadInput reads nadAsk from the ClusterNetwork's status.nads, which the
// controller computes once for the cluster: agents do not watch the NADs
// themselves (each would cache every NAD in the cluster). known is false
// while there is nothing to read (no ClusterNetwork, or the controller has
// not written status.nads yet): the agent then keeps what it has, as it
// does for an unreadable list (an error), rather than strip the uplink's
// VLANs on a guess.
func nadInput(cn *v1alpha1.ClusterNetwork, bridge string) (ask nadAsk, known bool, err error) {
	if cn == nil || cn.Status.NADs == nil {
		return nadAsk{}, false, nil
	}
	st := cn.Status.NADs
	if st.Unavailable != "" {
		return nadAsk{unavailable: st.Unavailable}, true, nil
	}
	for _, b := range st.Bridges {
		if b.Bridge != bridge {
			continue
		}
		vids, err := nad.ParseVLANs(b.VLANs)
		if err != nil {
			return nadAsk{}, false, fmt.Errorf("ClusterNetwork %s status.nads.bridges[%s].vlans: %w", cn.Name, bridge, err)
		}
		ask := nadAsk{vlans: vids}
		for _, m := range b.MTUs {
			if m.MTU < 0 || m.MTU > nad.MaxMTU {
				return nadAsk{}, false, fmt.Errorf("ClusterNetwork %s status.nads.bridges[%s].mtus: NAD %s: MTU %d is outside 0..%d", cn.Name, bridge, m.NAD, m.MTU, nad.MaxMTU)
			}
			ask.mtus = append(ask.mtus, desired.NADMTU{NAD: m.NAD, MTU: m.MTU})
		}
		return ask, true, nil
	}
	return nadAsk{}, true, nil // no NAD asks anything of this bridge
}
