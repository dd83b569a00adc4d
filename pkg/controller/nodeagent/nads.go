package nodeagent

import (
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	cniv1 "github.com/harvnet/harvnet/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/harvnet/harvnet/pkg/desired"
	cnictl "github.com/harvnet/harvnet/pkg/generated/controllers/k8s.cni.cncf.io/v1"
)

// nadVLANs computes the VLAN IDs the bridge's NADs ask for. A NAD with a
// bad config is skipped whole and gets one Warning event per version.
type nadVLANs struct {
	cache    cnictl.NetworkAttachmentDefinitionCache
	bridge   string
	recorder record.EventRecorder

	mu     sync.Mutex
	warned map[types.UID]string // resourceVersion last warned about
}

func (n *nadVLANs) compute() ([]int, error) {
	list, err := n.cache.List("", labels.Everything())
	if err != nil {
		return nil, err
	}
	set := map[int]bool{}
	for _, nad := range list {
		vids, err := desired.VLANsFromNADConfig(nad.Spec.Config, n.bridge)
		if err != nil {
			n.warn(nad, err)
			continue
		}
		for _, v := range vids {
			set[v] = true
		}
	}
	out := make([]int, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Ints(out)
	return out, nil
}

func (n *nadVLANs) warn(nad *cniv1.NetworkAttachmentDefinition, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.warned[nad.UID] == nad.ResourceVersion {
		return
	}
	n.warned[nad.UID] = nad.ResourceVersion
	n.recorder.Eventf(nad, corev1.EventTypeWarning, "InvalidConfig", "harvnet skips this NetworkAttachmentDefinition: %v", err)
}
