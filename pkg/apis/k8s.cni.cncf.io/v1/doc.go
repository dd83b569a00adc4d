// Package v1 is a minimal local copy of the Multus NetworkAttachmentDefinition
// API (k8s.cni.cncf.io/v1): only what harvnet reads and writes. It stands in for
// github.com/k8snetworkplumbingwg/network-attachment-definition-client, which
// is not available to this build; the wire format is the same.
//
// +k8s:deepcopy-gen=package
// +groupName=k8s.cni.cncf.io
package v1
