package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
// +kubebuilder:printcolumn:name="ENABLE",type=boolean,JSONPath=`.spec.enable`
// +kubebuilder:printcolumn:name="DEFAULT-NIC",type=string,JSONPath=`.spec.defaultPhysicalNIC`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterNetwork struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ClusterNetworkSpec `json:"spec,omitempty"`
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
}
