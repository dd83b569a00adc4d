package agent

import (
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"

	cniv1 "github.com/harvnet/harvnet/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/rancher/lasso/pkg/controller"
	"github.com/rancher/wrangler/v3/pkg/generic"
	"github.com/rancher/wrangler/v3/pkg/schemes"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func init() { schemes.Register(cniv1.AddToScheme) }

// nadController watches every NAD in the cluster. It is the one generic
// controller harvnet needs for a type it does not own, built here with the
// NAD's real plural (wrangler's generator would guess it from the kind).
func nadController(scf controller.SharedControllerFactory) generic.ControllerInterface[*cniv1.NetworkAttachmentDefinition, *cniv1.NetworkAttachmentDefinitionList] {
	gvk := schema.GroupVersionKind{Group: cniv1.SchemeGroupVersion.Group, Version: cniv1.SchemeGroupVersion.Version, Kind: "NetworkAttachmentDefinition"}
	return generic.NewController[*cniv1.NetworkAttachmentDefinition, *cniv1.NetworkAttachmentDefinitionList](gvk, "network-attachment-definitions", true, scf)
}

// nadVLANs computes the VLAN IDs the bridge's NADs ask for. A NAD with a
// bad config is skipped whole and gets one Warning event per version.
type nadVLANs struct {
	cache    generic.CacheInterface[*cniv1.NetworkAttachmentDefinition]
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
