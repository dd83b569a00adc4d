package controller

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/equality"

	cniv1 "github.com/harvnet/harvnet/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	netctl "github.com/harvnet/harvnet/pkg/generated/controllers/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/nad"
)

// The controller computes what the NADs ask of each bridge once for the
// cluster and writes it into the ClusterNetwork's status.nads, which every
// agent already watches (one object). Before, every agent cached every NAD
// in the cluster and parsed every config: an agent's memory grew with the
// cluster's NADs, and each NAD change reached every node.

// bridgeAsk is what one config asks of one bridge.
type bridgeAsk struct {
	vids []int
	mtu  int // 0: none, or unreadable (the plugin refuses it before a VM frame is sent)
}

// parsedConfig is what one CNI config asks of each bridge it names; a
// bridge whose part cannot be read is left out, so the NAD is skipped
// whole for that bridge (the NAD reports say why).
type parsedConfig struct {
	asks map[string]bridgeAsk
	pass uint64
}

func parseConfig(config string) *parsedConfig {
	p := &parsedConfig{asks: map[string]bridgeAsk{}}
	bridges, err := nad.Bridges(config)
	if err != nil {
		return p
	}
	for _, b := range bridges {
		vids, err := nad.VLANs(config, b)
		if err != nil {
			continue
		}
		a := bridgeAsk{vids: vids}
		if mtu, err := nad.MTU(config, b); err == nil && mtu > 0 {
			a.mtu = mtu
		}
		if len(a.vids) > 0 || a.mtu > 0 {
			p.asks[b] = a
		}
	}
	return p
}

// summarizer computes status.nads from the NADs. It keeps what each config
// in use asks, so a recompute parses only configs new since the last one:
// one NAD changed is one parse, not one per NAD in the cluster.
type summarizer struct {
	memo map[string]*parsedConfig
	pass uint64
}

// summarize is what the NADs in the allowed namespaces (all when the list
// is empty) ask of each bridge, bridges sorted by name, each bridge's MTUs
// by NAD. Not safe for concurrent use.
func (s *summarizer) summarize(nads []*cniv1.NetworkAttachmentDefinition, allowed []string) *v1alpha1.NADStatus {
	if s.memo == nil {
		s.memo = map[string]*parsedConfig{}
	}
	s.pass++
	vids := map[string]map[int]bool{}
	mtus := map[string][]v1alpha1.NADMTU{}
	for _, d := range nads {
		if d.DeletionTimestamp != nil || len(allowed) > 0 && !slices.Contains(allowed, d.Namespace) {
			continue
		}
		p := s.memo[d.Spec.Config]
		if p == nil {
			p = parseConfig(d.Spec.Config)
			s.memo[d.Spec.Config] = p
		}
		p.pass = s.pass
		for b, a := range p.asks {
			if vids[b] == nil {
				vids[b] = map[int]bool{}
			}
			for _, v := range a.vids {
				vids[b][v] = true
			}
			if a.mtu > 0 {
				mtus[b] = append(mtus[b], v1alpha1.NADMTU{NAD: d.Namespace + "/" + d.Name, MTU: a.mtu})
			}
		}
	}
	maps.DeleteFunc(s.memo, func(_ string, p *parsedConfig) bool { return p.pass != s.pass })
	out := &v1alpha1.NADStatus{}
	for _, b := range slices.Sorted(maps.Keys(vids)) {
		m := mtus[b]
		sort.Slice(m, func(i, j int) bool { return strings.Compare(m[i].NAD, m[j].NAD) < 0 })
		out.Bridges = append(out.Bridges, v1alpha1.BridgeNADs{Bridge: b, VLANs: nad.FormatVLANs(slices.Sorted(maps.Keys(vids[b]))), MTUs: m})
	}
	return out
}

func newNADSummary(networks netctl.ClusterNetworkController) *nadSummary {
	return &nadSummary{
		enqueue: func() { networks.Enqueue(v1alpha1.ClusterNetworkVLAN) },
		patch: func(cn *v1alpha1.ClusterNetwork, next *v1alpha1.ClusterNetworkStatus) error {
			return patchNetworkStatus(networks, cn, next)
		},
	}
}

// nadSummary keeps the ClusterNetwork's status.nads equal to what the NADs
// ask now. It writes only when that changed: every agent watches the
// object, so a write wakes every node.
type nadSummary struct {
	// enqueue asks for a sync of the ClusterNetwork "vlan"; patch writes
	// its status (patchNetworkStatus). Fakes in unit tests.
	enqueue func()
	patch   func(cn *v1alpha1.ClusterNetwork, next *v1alpha1.ClusterNetworkStatus) error

	mu          sync.Mutex
	list        func() ([]*cniv1.NetworkAttachmentDefinition, error) // nil until the NAD cache synced
	unavailable string                                               // why no NAD can be read; "" while unknown or served
	s           summarizer
}

// serve says the NAD cache has synced and lists the cluster's NADs.
func (n *nadSummary) serve(list func() ([]*cniv1.NetworkAttachmentDefinition, error)) {
	n.mu.Lock()
	n.list, n.unavailable = list, ""
	n.mu.Unlock()
	n.enqueue()
}

// unserved says the cluster serves no NADs, and why.
func (n *nadSummary) unserved(why string) {
	n.mu.Lock()
	changed := n.unavailable != why
	n.list, n.unavailable = nil, why
	n.mu.Unlock()
	if changed {
		n.enqueue()
	}
}

// want is status.nads as it should be; nil while nothing is known yet
// (discovery has not answered, or the cache is still filling): then status
// is left as it is and the agents keep what they have.
func (n *nadSummary) want(allowed []string) (*v1alpha1.NADStatus, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.list == nil {
		if n.unavailable == "" {
			return nil, nil
		}
		return &v1alpha1.NADStatus{Unavailable: n.unavailable}, nil
	}
	nads, err := n.list()
	if err != nil {
		return nil, err
	}
	return n.s.summarize(nads, allowed), nil
}

func (n *nadSummary) sync(name string, cn *v1alpha1.ClusterNetwork) (*v1alpha1.ClusterNetwork, error) {
	if name != v1alpha1.ClusterNetworkVLAN || cn == nil || cn.DeletionTimestamp != nil {
		return cn, nil
	}
	want, err := n.want(cn.Spec.NADNamespaces)
	if err != nil || want == nil || equality.Semantic.DeepEqual(cn.Status.NADs, want) {
		return cn, err
	}
	next := cn.Status.DeepCopy()
	next.NADs = want
	return cn, n.patch(cn, next)
}
