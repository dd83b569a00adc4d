package agent

import (
	"sync"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
)

// inputs joins the two sources of the desired input, the Node object and
// the NADs, and hands the loop a complete input whenever either changes.
type inputs struct {
	set func(desired.Input)

	mu      sync.Mutex
	haveObj bool
	in      desired.Input
}

func (i *inputs) node(n *v1alpha1.Node, deleted bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.haveObj = true
	i.in.Deleted = deleted
	if n != nil {
		i.in.Spec = n.Spec
		i.in.Generation = n.Generation
	}
	i.set(i.in)
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
	i.set(i.in)
}

func (i *inputs) vlans(v []int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.in.VLANs = v
	// Without the Node object nothing is applied: an agent that has not
	// seen its object yet must not tear down a working node.
	if i.haveObj {
		i.set(i.in)
	}
}
