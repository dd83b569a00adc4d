package controller

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	cniv1 "github.com/harvnet/harvnet/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/nad"
)

// Bridge is the bridge whose NADs the controller checks: the agents'
// --bridge-name default, which the chart does not change.
const Bridge = "harvester-br0"

// Event reasons on a NAD the agents skip.
const (
	ReasonInvalidConfig       = "InvalidConfig"
	ReasonNamespaceNotAllowed = "NamespaceNotAllowed"
)

// warner records one Warning Event on an object; record.EventRecorder in
// the binary, a fake in tests.
type warner interface {
	Eventf(obj runtime.Object, eventType, reason, messageFmt string, args ...any)
}

// nadReports tells, once per NAD version and reason, why the agents skip a
// NAD: its CNI config cannot be read, or its namespace is not in the
// ClusterNetwork's nadNamespaces. One report for the cluster, on the NAD
// itself, where its author looks; every agent skips it the same way.
type nadReports struct {
	recorder warner
	// network returns the ClusterNetwork "vlan", nil when absent.
	network func() *v1alpha1.ClusterNetwork

	mu     sync.Mutex
	warned map[string]string // namespace/name -> resourceVersion and reason last reported
}

func newNADReports(recorder warner, network func() *v1alpha1.ClusterNetwork) *nadReports {
	return &nadReports{recorder: recorder, network: network, warned: map[string]string{}}
}

// check reports d if the agents skip it, and returns the reason ("" when
// they use it or it is not for the bridge).
func (r *nadReports) check(d *cniv1.NetworkAttachmentDefinition) string {
	if d == nil || d.DeletionTimestamp != nil {
		return ""
	}
	vids, err := nad.VLANs(d.Spec.Config, Bridge)
	reason, msg := "", ""
	switch {
	case err != nil:
		reason, msg = ReasonInvalidConfig, fmt.Sprintf("harvnet skips this NetworkAttachmentDefinition: %v", err)
	case len(vids) > 0 && !r.allowed(d.Namespace):
		reason, msg = ReasonNamespaceNotAllowed, fmt.Sprintf("harvnet skips this NetworkAttachmentDefinition: namespace %s is not in ClusterNetwork %s's spec.nadNamespaces [%s], so its VLANs %v are not allowed on any uplink",
			d.Namespace, v1alpha1.ClusterNetworkVLAN, strings.Join(r.namespaces(), " "), vids)
	default:
		return ""
	}
	key, id := d.ResourceVersion+"/"+reason, d.Namespace+"/"+d.Name
	r.mu.Lock()
	seen := r.warned[id] == key
	r.warned[id] = key
	r.mu.Unlock()
	if !seen {
		r.recorder.Eventf(d, corev1.EventTypeWarning, reason, "%s", msg)
	}
	return reason
}

func (r *nadReports) namespaces() []string {
	if cn := r.network(); cn != nil {
		return cn.Spec.NADNamespaces
	}
	return nil
}

// allowed: an empty list (or no ClusterNetwork) allows every namespace.
func (r *nadReports) allowed(ns string) bool {
	list := r.namespaces()
	return len(list) == 0 || slices.Contains(list, ns)
}

// forget drops a deleted NAD's entry (key namespace/name).
func (r *nadReports) forget(key string) {
	r.mu.Lock()
	delete(r.warned, key)
	r.mu.Unlock()
}
