package agent

import (
	"slices"
	"sort"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	cniv1 "github.com/harvnet/harvnet/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/nad"
	"github.com/rancher/lasso/pkg/controller"
	"github.com/rancher/wrangler/v3/pkg/generic"
	"github.com/rancher/wrangler/v3/pkg/schemes"
)

func init() { schemes.Register(cniv1.AddToScheme) }

// nadController watches every NAD in the cluster. It is the one generic
// controller harvnet needs for a type it does not own, built here with the
// NAD's real plural (wrangler's generator would guess it from the kind).
func nadController(scf controller.SharedControllerFactory) generic.ControllerInterface[*cniv1.NetworkAttachmentDefinition, *cniv1.NetworkAttachmentDefinitionList] {
	gvk := schema.GroupVersionKind{Group: cniv1.SchemeGroupVersion.Group, Version: cniv1.SchemeGroupVersion.Version, Kind: "NetworkAttachmentDefinition"}
	return generic.NewController[*cniv1.NetworkAttachmentDefinition, *cniv1.NetworkAttachmentDefinitionList](gvk, "network-attachment-definitions", true, scf)
}

// nadLister is what nadVLANs reads NADs from: the NAD cache, a fake in tests.
type nadLister interface {
	List(namespace string, selector labels.Selector) ([]*cniv1.NetworkAttachmentDefinition, error)
}

// nadVLANs computes the VLAN IDs the bridge's NADs ask for, and the MTUs
// they set, counting only NADs in the namespaces the ClusterNetwork allows
// (all when it names none, or does not exist). A NAD with a bad config, or
// outside the allow-list, is skipped whole; the controller reports it,
// once, on the NAD. A bad "mtu" drops the NAD from the MTUs only: the CNI
// plugin fails on it before any VM frame is sent.
type nadVLANs struct {
	cache  nadLister
	bridge string
	// network returns the ClusterNetwork "vlan", nil when absent.
	network func() *v1alpha1.ClusterNetwork
}

func (n *nadVLANs) compute() ([]int, []desired.NADMTU, error) {
	list, err := n.cache.List("", labels.Everything())
	if err != nil {
		return nil, nil, err
	}
	var mtus []desired.NADMTU
	var allowed []string
	if cn := n.network(); cn != nil {
		allowed = cn.Spec.NADNamespaces
	}
	set := map[int]bool{}
	for _, d := range list {
		if len(allowed) > 0 && !slices.Contains(allowed, d.Namespace) {
			continue
		}
		vids, err := nad.VLANs(d.Spec.Config, n.bridge)
		if err != nil {
			continue
		}
		for _, v := range vids {
			set[v] = true
		}
		if mtu, err := nad.MTU(d.Spec.Config, n.bridge); err == nil && mtu > 0 {
			mtus = append(mtus, desired.NADMTU{NAD: d.Namespace + "/" + d.Name, MTU: mtu})
		}
	}
	sort.Slice(mtus, func(i, j int) bool { return mtus[i].NAD < mtus[j].NAD })
	out := make([]int, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Ints(out)
	return out, mtus, nil
}
