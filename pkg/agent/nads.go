package agent

import (
	"maps"
	"slices"
	"sort"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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

// slimNAD is the NAD informer's transform: it keeps of each NAD only what
// nadVLANs reads, so an agent's cache grows by a few hundred bytes per NAD
// in the cluster rather than by the whole object (managedFields, labels,
// annotations, a config written for another network). The identity stays
// (namespace, name, UID, resourceVersion: lasso can skip updates that keep
// the version, and the allow-list goes by namespace), and the config stays verbatim
// when it counts for this bridge: it asks it for VLANs or an MTU. A config
// that does not (another plugin or bridge) or that nadVLANs skips (it
// cannot be read) is dropped: compute skips an empty config the same way,
// so the VLANs and MTUs are exactly those of the full objects. A change of
// a NAD still reaches the handler: the slim object carries the new
// resourceVersion. It is idempotent, as client-go asks.
func slimNAD(bridge string) func(obj any) (any, error) {
	return func(obj any) (any, error) {
		d, ok := obj.(*cniv1.NetworkAttachmentDefinition)
		if !ok {
			return obj, nil
		}
		slim := &cniv1.NetworkAttachmentDefinition{
			TypeMeta:   d.TypeMeta,
			ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name, UID: d.UID, ResourceVersion: d.ResourceVersion},
		}
		if countsFor(d.Spec.Config, bridge) {
			slim.Spec.Config = d.Spec.Config
		}
		return slim, nil
	}
}

// countsFor says a NAD's config adds VLANs or an MTU to compute's answer.
func countsFor(config, bridge string) bool {
	vids, err := nad.VLANs(config, bridge)
	if err != nil {
		return false
	}
	if len(vids) > 0 {
		return true
	}
	mtu, err := nad.MTU(config, bridge)
	return err == nil && mtu > 0
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

	// memo holds what each config in use asks of the bridge, so that a
	// recompute parses only the configs that are new since the last one
	// (one NAD changed: one parse, not one per NAD in the cluster).
	mu   sync.Mutex
	memo map[string]*parsedNAD
	pass uint64 // the compute running; entries not used by it are dropped
}

// parsedNAD is what one CNI config asks of the bridge.
type parsedNAD struct {
	vids []int
	bad  bool // the VLANs cannot be read: the NAD is skipped whole
	mtu  int  // 0: none, or unreadable
	pass uint64
}

func parseNAD(config, bridge string) *parsedNAD {
	vids, err := nad.VLANs(config, bridge)
	if err != nil {
		return &parsedNAD{bad: true}
	}
	p := &parsedNAD{vids: vids}
	if mtu, err := nad.MTU(config, bridge); err == nil && mtu > 0 {
		p.mtu = mtu
	}
	return p
}

func (n *nadVLANs) compute() ([]int, []desired.NADMTU, error) {
	list, err := n.cache.List("", labels.Everything())
	if err != nil {
		return nil, nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.memo == nil {
		n.memo = map[string]*parsedNAD{}
	}
	n.pass++
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
		p := n.memo[d.Spec.Config]
		if p == nil {
			p = parseNAD(d.Spec.Config, n.bridge)
			n.memo[d.Spec.Config] = p
		}
		p.pass = n.pass
		if p.bad {
			continue
		}
		for _, v := range p.vids {
			set[v] = true
		}
		if p.mtu > 0 {
			mtus = append(mtus, desired.NADMTU{NAD: d.Namespace + "/" + d.Name, MTU: p.mtu})
		}
	}
	maps.DeleteFunc(n.memo, func(_ string, p *parsedNAD) bool { return p.pass != n.pass })
	sort.Slice(mtus, func(i, j int) bool { return mtus[i].NAD < mtus[j].NAD })
	out := make([]int, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	sort.Ints(out)
	return out, mtus, nil
}
