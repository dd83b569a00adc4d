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
// +kubebuilder:printcolumn:name="SELECTED",type=string,JSONPath=`.metadata.labels.network\.harvesterhci\.io/selected`
// +kubebuilder:printcolumn:name="AGE",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="BRIDGE",type=string,JSONPath=`.status.bridge`,priority=1
// +kubebuilder:printcolumn:name="MTU",type=integer,JSONPath=`.status.mtu`,priority=1
// +kubebuilder:printcolumn:name="BOND",type=string,JSONPath=`.status.bondState`,priority=1
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
//
// +kubebuilder:validation:XValidation:rule=`!(has(self.nic) && size(self.nic) > 0 && has(self.uplink))`,message=`set either spec.network.nic or spec.network.uplink, not both`
type NetworkSpec struct {
	// +optional
	Type NetworkType `json:"type,omitempty"`
	// NIC is the uplink to enslave to the bridge; empty means a bridge without uplink.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[^/:\s]*$`
	// +kubebuilder:validation:XValidation:rule=`size(bytes(self)) <= 15 && !self.matches('[/:\\s\\v]') && self != '.' && self != '..'`,message=`must be a Linux interface name: 1 to 15 bytes, not "." or "..", without '/', ':' or whitespace`
	NIC string `json:"nic,omitempty"`
	// Uplink is an uplink of one or more NICs named by stable identity,
	// bonded when there is more than one (or when bond is set). Use either
	// nic or uplink, not both.
	// +optional
	Uplink *UplinkSpec `json:"uplink,omitempty"`
	// MTU is applied to the uplink NICs, the bond, the bridge and the
	// VM-facing ports alike; 0 leaves the kernel's MTU as it is.
	// +optional
	// +kubebuilder:validation:Minimum=576
	// +kubebuilder:validation:Maximum=9000
	MTU int `json:"mtu,omitempty"`
}

// UplinkSpec is the NICs of an uplink and, for more than one, their bond.
//
// +kubebuilder:validation:XValidation:rule=`size(self.nics) <= 1 || has(self.bond)`,message=`spec.network.uplink.bond is required with more than one NIC`,fieldPath=`.bond`
type UplinkSpec struct {
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	NICs []NICRef `json:"nics"`
	// Bond makes the NICs the slaves of a bond named after the bridge.
	// +optional
	Bond *BondOptions `json:"bond,omitempty"`
}

// NICRef names one NIC by exactly one of: its interface name, its
// permanent MAC address or its PCI address. The agent resolves it to
// today's interface name and reports that in status.uplinkNICs, so a
// rename after a kernel or firmware upgrade changes nothing for the admin.
//
// +kubebuilder:validation:XValidation:rule=`(has(self.name) ? 1 : 0) + (has(self.mac) ? 1 : 0) + (has(self.pciAddress) ? 1 : 0) == 1`,message=`name exactly one of name, mac or pciAddress`
type NICRef struct {
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:XValidation:rule=`size(bytes(self)) <= 15 && !self.matches('[/:\\s\\v]') && self != '.' && self != '..'`,message=`must be a Linux interface name: 1 to 15 bytes, not "." or "..", without '/', ':' or whitespace`
	Name string `json:"name,omitempty"`
	// MAC is the permanent (burnt-in) MAC address, as `ethtool -P` prints it.
	// +optional
	// +kubebuilder:validation:Pattern=`^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$`
	MAC string `json:"mac,omitempty"`
	// PCIAddress is the NIC's PCI slot, e.g. 0000:03:00.0.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$`
	PCIAddress string `json:"pciAddress,omitempty"`
}

// BondMode is one of the seven Linux bonding modes.
// +kubebuilder:validation:Enum=balance-rr;active-backup;balance-xor;broadcast;802.3ad;balance-tlb;balance-alb
type BondMode string

const (
	BondModeBalanceRR    BondMode = "balance-rr"
	BondModeActiveBackup BondMode = "active-backup"
	BondModeBalanceXOR   BondMode = "balance-xor"
	BondModeBroadcast    BondMode = "broadcast"
	BondMode8023AD       BondMode = "802.3ad"
	BondModeBalanceTLB   BondMode = "balance-tlb"
	BondModeBalanceALB   BondMode = "balance-alb"
)

// BondOptions are the bond's settings; unset ones take the defaults
// (active-backup, miimon 100). LACP rate and aggregator selection exist in
// 802.3ad only; a transmit hash policy in 802.3ad, balance-xor,
// balance-tlb and balance-alb only.
//
// +kubebuilder:validation:XValidation:rule=`!has(self.lacpRate) || self.mode == '802.3ad'`,message=`lacpRate is valid only with mode 802.3ad`,fieldPath=`.lacpRate`
// +kubebuilder:validation:XValidation:rule=`!has(self.adSelect) || self.mode == '802.3ad'`,message=`adSelect is valid only with mode 802.3ad`,fieldPath=`.adSelect`
// +kubebuilder:validation:XValidation:rule=`!has(self.xmitHashPolicy) || self.mode in ['802.3ad', 'balance-xor', 'balance-tlb', 'balance-alb']`,message=`xmitHashPolicy is valid only with mode 802.3ad, balance-xor, balance-tlb or balance-alb`,fieldPath=`.xmitHashPolicy`
type BondOptions struct {
	// +optional
	// +kubebuilder:default=active-backup
	Mode BondMode `json:"mode,omitempty"`
	// Miimon is the MII link monitoring interval in milliseconds.
	// +optional
	// +kubebuilder:default=100
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	Miimon *int `json:"miimon,omitempty"`
	// +optional
	// +kubebuilder:validation:Enum=slow;fast
	LACPRate string `json:"lacpRate,omitempty"`
	// +optional
	// +kubebuilder:validation:Enum=layer2;layer2+3;layer3+4;encap2+3;encap3+4;vlan+srcmac
	XmitHashPolicy string `json:"xmitHashPolicy,omitempty"`
	// +optional
	// +kubebuilder:validation:Enum=stable;bandwidth;count
	ADSelect string `json:"adSelect,omitempty"`
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
	// UplinkNICs is how each NIC of spec.network.uplink resolved to an
	// interface name today, in the spec's order.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	UplinkNICs []ResolvedNIC `json:"uplinkNICs,omitempty"`
	// MTU is the bridge's MTU as the kernel reports it, for `kubectl get -o wide`.
	// +optional
	MTU int `json:"mtu,omitempty"`
	// BondState summarises the bond ("up 2/2", "degraded 1/2: eth1 down"),
	// for `kubectl get -o wide`; empty without a bond.
	// +optional
	BondState string `json:"bondState,omitempty"`
	// Rollback is set while the agent holds the node on its previous
	// network because the last change failed its probes; it clears when
	// the spec changes or the retry annotation asks again.
	// +optional
	Rollback *RollbackStatus `json:"rollback,omitempty"`
}

// RetryAnnotation on a Node object asks the agent to try a change it
// rolled back once more: set it to any new value.
const RetryAnnotation = "network.harvesterhci.io/retry"

// RollbackStatus says which change was undone and why.
type RollbackStatus struct {
	// Generation is the spec generation that was rolled back.
	Generation int64 `json:"generation"`
	// Probe names the probe that kept failing, e.g. "gateway 10.0.0.1 (arp)".
	Probe string `json:"probe"`
	// Step is the condition type of the step that was undone.
	Step string      `json:"step"`
	Time metav1.Time `json:"time"`
	// Retry is the RetryAnnotation value this rollback saw; setting the
	// annotation to any other value asks again.
	// +optional
	Retry string `json:"retry,omitempty"`
}

// ResolvedNIC is one entry of spec.network.uplink.nics and the interface
// it names today.
type ResolvedNIC struct {
	Ref NICRef `json:"ref"`
	// Name is today's interface name; empty when no NIC matches.
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
}

// BondStatus is a bond as the kernel reports it.
type BondStatus struct {
	Mode BondMode `json:"mode"`
	// +optional
	ActiveSlave string `json:"activeSlave,omitempty"`
	// +optional
	Miimon int `json:"miimon,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxItems=8
	Slaves []BondSlaveStatus `json:"slaves,omitempty"`
}

// BondSlaveStatus is one slave of a bond, including what the switch says
// about it under 802.3ad.
type BondSlaveStatus struct {
	Name       string    `json:"name"`
	LinkStatus LinkState `json:"linkStatus"`
	// +optional
	SpeedMbps int `json:"speedMbps,omitempty"`
	// +optional
	Duplex string `json:"duplex,omitempty"`
	// +optional
	LinkFailureCount int `json:"linkFailureCount,omitempty"`
	// AggregatorID is the 802.3ad aggregator this slave is in.
	// +optional
	AggregatorID int `json:"aggregatorID,omitempty"`
	// InActiveAggregator is false for a slave whose switch port is not in
	// the LAG (802.3ad only).
	// +optional
	InActiveAggregator *bool `json:"inActiveAggregator,omitempty"`
	// PartnerMAC is the 802.3ad partner's system MAC; empty or all-zero
	// when the switch never answered LACP.
	// +optional
	PartnerMAC string `json:"partnerMAC,omitempty"`
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
	// Bond is set for bonds only.
	// +optional
	Bond *BondStatus `json:"bond,omitempty"`
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
	// Driver is the kernel driver, e.g. "ixgbe".
	// +optional
	Driver string `json:"driver,omitempty"`
	// +optional
	SpeedMbps int `json:"speedMbps,omitempty"`
	// PCIAddress is the NIC's PCI slot, for spec.network.uplink.nics[].pciAddress.
	// +optional
	PCIAddress string `json:"pciAddress,omitempty"`
	// PermanentMAC is the burnt-in MAC, for spec.network.uplink.nics[].mac.
	// +optional
	PermanentMAC string `json:"permanentMAC,omitempty"`
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
