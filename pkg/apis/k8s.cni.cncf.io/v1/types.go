package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// The plural is "network-attachment-definitions" (with dashes), not the
// "networkattachmentdefinitions" that generators guess from the kind; the
// wrangler controller is patched for it by pkg/codegen.
//
// +genclient
// +genclient:noStatus
// +resourceName=network-attachment-definitions
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// NetworkAttachmentDefinition describes how to attach a pod to a secondary
// network; Spec.Config is the CNI configuration as JSON.
//
// +kubebuilder:resource:path=network-attachment-definitions,scope=Namespaced,shortName={net-attach-def},singular=network-attachment-definition
type NetworkAttachmentDefinition struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec NetworkAttachmentDefinitionSpec `json:"spec"`
}

// NetworkAttachmentDefinitionSpec holds the CNI configuration.
type NetworkAttachmentDefinitionSpec struct {
	// Config is a JSON-formatted CNI configuration.
	// +optional
	Config string `json:"config"`
}

// NetworkAttachmentDefinitionList is a list of NetworkAttachmentDefinitions.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type NetworkAttachmentDefinitionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata"`

	Items []NetworkAttachmentDefinition `json:"items"`
}
