// Package v1alpha1 is the harvnet API: one Node object per core Node, saying
// which NIC carries the VM networks, and reporting what the host really has.
//
// +k8s:deepcopy-gen=package
// +groupName=network.harvesterhci.io
package v1alpha1
