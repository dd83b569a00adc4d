package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// The genclient tags sit in their own comment block (separated by a blank
// line) because wrangler's controller generator reads +genclient:nonNamespaced
// only from there; in the doc comment it would generate a namespaced controller.
//
// The NIC rule's messageExpression lists the usable NICs with format() of a
// list, not map().join(', '): the apiserver cannot bound the cost of join()
// over a map() result and would reject the CRD as over budget. The rule
// spells out has() chains because comparing optional-chained strings
// (self.?spec...orValue("") == oldSelf.?spec...) is also estimated unbounded.
//
// +genclient
// +genclient:nonNamespaced
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Node is the network of one core Node: which NIC to use as the VLAN uplink,
// and what the host's bridge, uplink and VLANs really look like.
//
// Changing spec.network.nic to a name the agent has not reported in
// status.nics is rejected (once status.nics is non-empty); creating a Node and
// the agent's status writes are never blocked by that rule.
//
// +kubebuilder:validation:XValidation:rule=`!has(self.spec) || !has(self.spec.network) || !has(self.spec.network.nic) || self.spec.network.nic == "" || (has(oldSelf.spec) && has(oldSelf.spec.network) && has(oldSelf.spec.network.nic) && oldSelf.spec.network.nic == self.spec.network.nic) || !has(self.status) || !has(self.status.nics) || size(self.status.nics) == 0 || self.status.nics.exists(n, n.name == self.spec.network.nic)`,messageExpression=`'spec.network.nic "%s" is not a NIC of this node; usable NICs: %s'.format([self.spec.network.nic, self.status.nics.filter(n, n.usable).map(n, n.name)])`,message=`spec.network.nic is not a NIC of this node (see status.nics)`,fieldPath=`.spec.network.nic`,reason=FieldValueInvalid
// +kubebuilder:resource:scope=Cluster,shortName={hnode,hnodes,hn}
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="NIC",type=string,JSONPath=`.spec.network.nic`
// +kubebuilder:printcolumn:name="LINK",type=string,JSONPath=`.status.uplinkStatus`
// +kubebuilder:printcolumn:name="VLANS",type=string,JSONPath=`.status.networkIDs`
// +kubebuilder:printcolumn:name="READY",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="BRIDGE",type=string,JSONPath=`.status.bridge`,priority=1
// +kubebuilder:printcolumn:name="DIAGNOSTICS",type=integer,JSONPath=`.status.diagnosticCount`,priority=1
// +kubebuilder:printcolumn:name="MESSAGE",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
type Node struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   NodeSpec   `json:"spec,omitempty"`
	Status NodeStatus `json:"status,omitempty"`
}

// NodeList is a list of Nodes.
//
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object
type NodeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Node `json:"items"`
}

// NodeSpec is what the admin asks of one node.
type NodeSpec struct {
	// +optional
	Description string `json:"description,omitempty"`
	// +optional
	Network NetworkSpec `json:"network,omitempty"`
}

// NetworkType says which kind of VM network the node carries.
// +kubebuilder:validation:Enum="";vlan
type NetworkType string

const (
	// NetworkTypeNone configures nothing: the agent tears its bridge down.
	NetworkTypeNone NetworkType = ""
	// NetworkTypeVLAN is a vlan_filtering bridge with one uplink NIC.
	NetworkTypeVLAN NetworkType = "vlan"
)

// NetworkSpec selects the network type and the uplink NIC.
type NetworkSpec struct {
	// +optional
	Type NetworkType `json:"type,omitempty"`
	// NIC is the uplink to enslave to the bridge; empty means a bridge without uplink.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[^/:\s]*$`
	// +kubebuilder:validation:XValidation:rule=`size(bytes(self)) <= 15 && !self.matches('[/:\\s\\v]') && self != '.' && self != '..'`,message=`must be a Linux interface name: 1 to 15 bytes, not "." or "..", without '/', ':' or whitespace`
	NIC string `json:"nic,omitempty"`
}

// NodeStatus is what the agent observed on the host.
type NodeStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Bridge is the name of the VLAN bridge this node's agent manages.
	// +optional
	Bridge string `json:"bridge,omitempty"`
	// UplinkStatus is the linkStatus of the uplink NIC, for `kubectl get`.
	// +optional
	UplinkStatus LinkState `json:"uplinkStatus,omitempty"`
	// NetworkStatus holds the bridge, the uplink and the management interface.
	// +optional
	NetworkStatus map[string]LinkStatus `json:"networkStatus,omitempty"`
	// NICs is the inventory of interfaces that can be chosen as uplink.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	NICs []NIC `json:"nics,omitempty"`
	// NetworkIDs are the VLAN IDs allowed on the uplink now, sorted.
	// +optional
	NetworkIDs []int `json:"networkIDs,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Diagnostics are the host network pitfalls the agent's doctor sees on
	// this node (read-only: harvnet reports them and changes nothing for
	// them), each with the command that fixes it.
	// +optional
	// +listType=map
	// +listMapKey=check
	// +listMapKey=subject
	// +kubebuilder:validation:MaxItems=64
	Diagnostics []Diagnostic `json:"diagnostics,omitempty"`
	// DiagnosticCount is len(diagnostics), for `kubectl get -o wide`.
	// +optional
	DiagnosticCount int `json:"diagnosticCount,omitempty"`
}

// DiagnosticSeverity says how badly a pitfall hurts.
// +kubebuilder:validation:Enum=Warning;Error
type DiagnosticSeverity string

const (
	SeverityWarning DiagnosticSeverity = "Warning"
	SeverityError   DiagnosticSeverity = "Error"
)

// Diagnostic is one host network pitfall found by the doctor.
type Diagnostic struct {
	// Check names the rule, e.g. "BridgeNFCallIPTables" or "StrictRPFilter".
	Check string `json:"check"`
	// Subject is what it is about (an interface, a table, a NAD); "" for the host.
	// A list map key must be required or defaulted, or the API server
	// refuses the CRD.
	// +optional
	// +kubebuilder:default=""
	Subject  string             `json:"subject"`
	Severity DiagnosticSeverity `json:"severity"`
	Message  string             `json:"message"`
	// Fix is the exact command that fixes it on the node.
	// +optional
	Fix string `json:"fix,omitempty"`
}

// LinkState is a link's usable state, from the kernel's operational state
// and carrier: an administratively-up NIC without a cable is not up.
type LinkState string

const (
	LinkUp             LinkState = "up"
	LinkDown           LinkState = "down"
	LinkLowerLayerDown LinkState = "lowerlayerdown"
	LinkDormant        LinkState = "dormant"
	LinkUnknown        LinkState = "unknown"
)

// LinkStatus is one interface as the kernel reports it.
type LinkStatus struct {
	Index       int       `json:"index"`
	Type        string    `json:"type"`
	MAC         string    `json:"mac,omitempty"`
	MTU         int       `json:"mtu,omitempty"`
	LinkStatus  LinkState `json:"linkStatus"`
	Promiscuous bool      `json:"promiscuous,omitempty"`
	Master      string    `json:"master,omitempty"`
	// +optional
	IPv4Address []string `json:"ipv4Address,omitempty"`
	// +optional
	IPv6Address []string `json:"ipv6Address,omitempty"`
	// Routes in `ip route` form, e.g. "10.0.0.0/24 dev br0 proto kernel scope link src 10.0.0.5".
	// +optional
	Routes []string `json:"routes,omitempty"`
	// VLANFiltering is set for bridges only.
	// +optional
	VLANFiltering *bool `json:"vlanFiltering,omitempty"`
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NIC is an interface that an admin may choose as uplink.
type NIC struct {
	// +kubebuilder:validation:MaxLength=15
	Name             string    `json:"name"`
	Index            int       `json:"index"`
	Type             string    `json:"type"`
	MAC              string    `json:"mac,omitempty"`
	MTU              int       `json:"mtu,omitempty"`
	LinkStatus       LinkState `json:"linkStatus"`
	Master           string    `json:"master,omitempty"`
	UsedByManagement bool      `json:"usedByManagement"`
	Usable           bool      `json:"usable"`
	// UnusableReason says why Usable is false.
	// +optional
	UnusableReason string `json:"unusableReason,omitempty"`
}

// AgentFinalizer keeps a Node object until its agent has torn the host
// down; the controller removes it only when the core Node is gone, since no
// agent is left to.
const AgentFinalizer = "network.harvesterhci.io/agent"

// Condition types of a Node.
const (
	ConditionReady                = "Ready"
	ConditionBridgeReady          = "BridgeReady"
	ConditionUplinkReady          = "UplinkReady"
	ConditionVLANsReady           = "VLANsReady"
	ConditionDHCPRulesReady       = "DHCPRulesReady"
	ConditionBridgeNetfilterReady = "BridgeNetfilterReady"
)
