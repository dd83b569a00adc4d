package agent

import (
	"reflect"
	"sync"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
)

// inputs joins the two sources of the desired input, the Node object and
// the NADs, and hands the loop a complete input whenever either changes,
// once both have answered: an agent that has not seen its object must not
// tear down a working node, and one that has not read the NADs yet must
// not strip the uplink's VLANs for a moment after a restart.
type inputs struct {
	set func(desired.Input)

	mu       sync.Mutex
	haveObj  bool
	haveNADs bool // the NADs were listed, or are known not to be served
	in       desired.Input
}

func (i *inputs) hand() {
	if i.haveObj && i.haveNADs {
		i.set(i.in)
	}
}

func (i *inputs) node(n *v1alpha1.Node, deleted bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.haveObj = true
	i.in.Deleted = deleted
	if n != nil {
		i.in.Spec = n.Spec
		i.in.Generation = n.Generation
		i.in.Retry = n.Annotations[v1alpha1.RetryAnnotation]
	}
	i.hand()
}

// absent says the synced cache holds no object for this node: it was
// deleted while no agent ran (its finalizer removed by hand) or never made.
// That is the same as an empty spec, so whatever harvnet set up is torn
// down. An object seen meanwhile wins: it is newer than the cache check.
func (i *inputs) absent() {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.haveObj {
		return
	}
	i.haveObj = true
	i.in.Deleted = true
	i.hand()
}

// probes takes the ClusterNetwork's probe settings; they change no host
// state, so the loop is handed them only with a complete input.
func (i *inputs) probes(p v1alpha1.ProbeSpec) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if reflect.DeepEqual(i.in.Probes, p) {
		return
	}
	i.in.Probes = p
	i.hand()
}

func (i *inputs) vlans(v []int, mtus []desired.NADMTU) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.in.VLANs, i.in.NADMTUs, i.in.NoNADs, i.haveNADs = v, mtus, "", true
	i.hand()
}

// noNADs says the cluster serves no NADs: the node runs without NAD VLANs,
// and status says why.
func (i *inputs) noNADs(why string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.haveNADs && i.in.NoNADs == why {
		return
	}
	i.in.VLANs, i.in.NADMTUs, i.in.NoNADs, i.haveNADs = nil, nil, why, true
	i.hand()
}
