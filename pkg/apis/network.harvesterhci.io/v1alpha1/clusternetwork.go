package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ClusterNetworkVLAN is the name of the one ClusterNetwork harvnet reads.
const ClusterNetworkVLAN = "vlan"

// The genclient tags sit in their own comment block (separated by a blank
// line) because wrangler's controller generator reads +genclient:nonNamespaced
// only from there; in the doc comment it would generate a namespaced controller.
//
// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ClusterNetwork switches the VLAN network on for the whole cluster.
//
// +kubebuilder:resource:scope=Cluster,shortName={cn}
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="ENABLE",type=boolean,JSONPath=`.spec.enable`
// +kubebuilder:printcolumn:name="DEFAULT-NIC",type=string,JSONPath=`.spec.defaultPhysicalNIC`
// +kubebuilder:printcolumn:name="ROLLOUT",type=string,JSONPath=`.status.rollout.summary`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="VLANS",type=string,JSONPath=`.status.nads.bridges[?(@.bridge=="harvester-br0")].vlans`,priority=1
type ClusterNetwork struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ClusterNetworkSpec   `json:"spec,omitempty"`
	Status ClusterNetworkStatus `json:"status,omitempty"`
}

// ClusterNetworkList is a list of ClusterNetworks.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type ClusterNetworkList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClusterNetwork `json:"items"`
}

// ClusterNetworkSpec turns the VLAN network on and names the NIC new Node objects start with.
type ClusterNetworkSpec struct {
	// +optional
	Enable bool `json:"enable,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[^/:\s]*$`
	// +kubebuilder:validation:XValidation:rule=`size(bytes(self)) <= 15 && !self.matches('[/:\\s\\v]') && self != '.' && self != '..'`,message=`must be a Linux interface name: 1 to 15 bytes, not "." or "..", without '/', ':' or whitespace`
	DefaultPhysicalNIC string `json:"defaultPhysicalNIC,omitempty"`
	// NADNamespaces lists the namespaces whose NetworkAttachmentDefinitions
	// may put VLANs on the nodes' uplinks; empty means every namespace.
	// NADs elsewhere are ignored and reported.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=63
	NADNamespaces []string `json:"nadNamespaces,omitempty"`
	// NodeSelector picks the nodes that get the network; unset means
	// every node. A node that leaves the selection is torn down through
	// the staged rollout, like a disable.
	// +optional
	NodeSelector *metav1.LabelSelector `json:"nodeSelector,omitempty"`
	// MaxUnavailable is how many nodes (a number, or a percentage of the
	// selected nodes, rounded down but at least 1) a change rolls out to at
	// once; the next wave starts when those report Ready. Default 1.
	// +optional
	// +kubebuilder:validation:XIntOrString
	// +kubebuilder:validation:XValidation:rule=`type(self) == int ? self >= 1 : self.matches('^[1-9][0-9]?%$|^100%$')`,message=`maxUnavailable must be a positive number of nodes or a percentage from 1% to 100%`
	MaxUnavailable *intstr.IntOrString `json:"maxUnavailable,omitempty"`
	// Probes are what each agent checks after a change that moves the
	// node's own addresses or routes; a change that breaks them is rolled
	// back.
	// +optional
	Probes ProbeSpec `json:"probes,omitempty"`
}

// ProbeSpec tunes the connectivity probes. The default gateways and the
// API server are always probed.
type ProbeSpec struct {
	// Targets are extra addresses that must stay reachable (a DNS server, a
	// storage host): an IP address, probed by ICMP echo, or IP:port,
	// probed by a TCP connect.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=64
	Targets []string `json:"targets,omitempty"`
	// TimeoutSeconds is how long a probe that passed before the change may
	// keep failing after it before the change is rolled back. Default 10.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=300
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
}

// ClusterNetworkStatus is the controller's view of the rollout.
type ClusterNetworkStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Rollout *RolloutStatus `json:"rollout,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// NADs is what the cluster's NetworkAttachmentDefinitions ask of each
	// bridge, computed once by the controller: the agents read it here
	// rather than each watching every NAD in the cluster. Absent until the
	// controller has read the NADs (or learnt the cluster serves none);
	// agents wait for it and keep what they applied meanwhile.
	// +optional
	NADs *NADStatus `json:"nads,omitempty"`
}

// NADStatus is what the allowed NADs ask of the bridges they name.
type NADStatus struct {
	// Unavailable says why no NAD can be read (the cluster serves no
	// NetworkAttachmentDefinitions); the nodes apply no NAD VLANs
	// meanwhile and say why.
	// +optional
	Unavailable string `json:"unavailable,omitempty"`
	// Bridges lists each bridge that a NAD in an allowed namespace asks
	// VLANs or an MTU of; a bridge not listed is asked for nothing. NADs
	// whose config cannot be read are left out (the controller says why
	// on the NAD).
	// +optional
	// +listType=map
	// +listMapKey=bridge
	Bridges []BridgeNADs `json:"bridges,omitempty"`
}

// BridgeNADs is what the NADs ask of one bridge.
type BridgeNADs struct {
	Bridge string `json:"bridge"`
	// VLANs are the VLAN IDs as sorted, comma-separated ranges, as
	// `bridge -compressvlans` prints them: "100,200-299".
	// +optional
	VLANs string `json:"vlans,omitempty"`
	// MTUs are the NADs that give their VMs' links an MTU, sorted by NAD.
	// +optional
	MTUs []NADMTU `json:"mtus,omitempty"`
}

// NADMTU is a NAD's CNI "mtu" for the bridge.
type NADMTU struct {
	// NAD is namespace/name.
	NAD string `json:"nad"`
	MTU int    `json:"mtu"`
}

// RolloutStatus is the progress of the current staged rollout.
type RolloutStatus struct {
	// Summary is "updated/total" plus a word ("3/5 rolling", "5/5 done",
	// "2/5 halted"), for `kubectl get clusternetwork`.
	Summary string `json:"summary"`
	Total   int    `json:"total"`
	Updated int    `json:"updated"`
	// Wave is the nodes being changed now.
	// +optional
	// +kubebuilder:validation:MaxItems=1000
	Wave []string `json:"wave,omitempty"`
	// HaltedBy names the node whose rollback stopped the rollout.
	// +optional
	HaltedBy string `json:"haltedBy,omitempty"`
}

// Condition types of a ClusterNetwork.
const (
	// ConditionRolloutProgressing is True while waves are being rolled out.
	ConditionRolloutProgressing = "RolloutProgressing"
	// ConditionRolloutHalted is True when a node rolled back; the rest
	// wait for the admin.
	ConditionRolloutHalted = "RolloutHalted"
)

// Labels and annotations the controller keeps on Node objects and reads on
// the ClusterNetwork. They live in metadata, not status: the agent writes
// status as a merge patch from its own view, which would drop a field it
// does not write.
const (
	// LabelSelected is "true" on a Node object whose core Node matches
	// the ClusterNetwork's nodeSelector, "false" otherwise.
	LabelSelected = "network.harvesterhci.io/selected"
	// AnnotationTeardown marks a Node object the staged rollout switched
	// off (spec.network.type emptied) rather than its admin: the rollout
	// switches it on again, and deletes it once its agent has torn down.
	AnnotationTeardown = "network.harvesterhci.io/teardown"
	// AnnotationCoreNodeGoneSince is when the controller first saw the
	// object's core Node missing (RFC 3339). The object, and so the node's
	// network and its spec, is kept for the controller's --node-gone-grace
	// and deleted after; a core Node registered again meanwhile takes it
	// back as it is.
	AnnotationCoreNodeGoneSince = "network.harvesterhci.io/core-node-gone-since"
	// AnnotationAcceptRollback on the ClusterNetwork lists rollbacks the
	// admin accepts as "node/generation", comma-separated: the rollout
	// goes on and leaves those nodes on their previous network.
	AnnotationAcceptRollback = "network.harvesterhci.io/accept-rollback"
)

// ReasonRolledBack is the Ready reason of a Node whose agent undid a
// change that failed its probes.
const ReasonRolledBack = "RolledBack"
