package desired

import (
	"fmt"
	"slices"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// DefaultBridge is the bridge harvnet builds unless told otherwise.
const DefaultBridge = "harvester-br0"

// DefaultUplinkTypes are the link kinds offered as uplinks on a real node.
var DefaultUplinkTypes = []string{"device", "bond"}

// Options are the agent's own settings, fixed for its lifetime.
type Options struct {
	BridgeName string
	// UplinkTypes are the netlink link kinds accepted as uplink and listed in
	// the NIC inventory. "device" is a physical NIC.
	UplinkTypes []string
	// BondName is the bond harvnet builds when the spec asks for one;
	// empty derives it from BridgeName (see DefaultBondName).
	BondName string
}

// Input is what the cluster asks of this node.
type Input struct {
	Spec v1alpha1.NodeSpec
	// Deleted is true when the Node object is going away: tear down.
	Deleted bool
	// VLANs are the VLAN IDs the bridge NADs ask for, in any order.
	VLANs []int
	// NADMTUs are the bridge NADs that set an MTU for their VMs' links,
	// sorted by NAD: one larger than the uplink's is flagged.
	NADMTUs []NADMTU
	// NoNADs says why no NAD could be read (the cluster serves no
	// NetworkAttachmentDefinition type): VLANs is then empty, and status
	// says why rather than "none wanted".
	NoNADs string
	// Generation is the Node object's generation, echoed into status.
	Generation int64
	// Retry is the Node object's v1alpha1.RetryAnnotation: a new value
	// asks the agent to try a change it rolled back once more.
	Retry string
	// Probes are the ClusterNetwork's connectivity probes, checked after a
	// change that moves the node's own addresses or routes.
	Probes v1alpha1.ProbeSpec
}

// NADMTU is a bridge NAD's CNI "mtu".
type NADMTU struct {
	NAD string // namespace/name
	MTU int
}

// State is the host network the agent should build.
type State struct {
	Teardown bool
	Bridge   string
	Uplink   string // the bridge's port: a NIC or Bond.Name; empty: a bridge without uplink
	VLANs    []int  // sorted, unique, 2..4094
	// BondName is the agent's bond, set also on teardown: a bond of
	// that name left from an earlier spec is taken apart.
	BondName string
	// Bond is the bond to build from the uplink's NICs; nil when the
	// uplink is one NIC (spec.network.nic, or uplink without bond).
	Bond *Bond
	// MTU for the NICs, the bond, the bridge and its VM ports; 0 leaves
	// the NIC's MTU and gives the bridge the uplink's.
	MTU int
	// UplinkRefs are spec.network.uplink.nics, resolved by Resolve into
	// Uplink or Bond.Slaves, with NICs saying how each resolved.
	UplinkRefs []v1alpha1.NICRef
	NICs       []v1alpha1.ResolvedNIC
}

// Validate checks the options once at start-up.
func (o Options) Validate() error {
	if err := ValidateLinkName(o.BridgeName); err != nil {
		return fmt.Errorf("bridge name: %w", err)
	}
	if err := ValidateLinkName(o.Bond()); err != nil {
		return fmt.Errorf("bond name: %w", err)
	}
	if o.Bond() == o.BridgeName {
		return fmt.Errorf("bond name: %q is the bridge's name too", o.BridgeName)
	}
	if len(o.UplinkTypes) == 0 {
		return fmt.Errorf("uplink types: at least one link type is needed")
	}
	for _, t := range o.UplinkTypes {
		switch t {
		case "device", "bond", "veth", "macvlan", "vxlan", "dummy", "team":
		default:
			return fmt.Errorf("uplink types: %q is not a link type harvnet can use as uplink", t)
		}
	}
	return nil
}

// UplinkTypeAllowed reports whether links of that kind may be uplinks.
func (o Options) UplinkTypeAllowed(kind string) bool {
	return slices.Contains(o.UplinkTypes, kind)
}

// Compute derives the desired state from the input. It checks only what can
// be checked without looking at the host; Resolve does the rest.
func Compute(in Input, opts Options) (State, error) {
	st := State{Bridge: opts.BridgeName, BondName: opts.Bond()}
	if in.Deleted || in.Spec.Network.Type == v1alpha1.NetworkTypeNone {
		st.Teardown = true
		return st, nil
	}
	if in.Spec.Network.Type != v1alpha1.NetworkTypeVLAN {
		return State{}, Invalidf(ReasonInvalidSpec, "spec.network.type %q is not supported; use \"vlan\" or leave it empty", in.Spec.Network.Type)
	}
	if nic := in.Spec.Network.NIC; nic != "" {
		if err := ValidateLinkName(nic); err != nil {
			return State{}, Invalidf(ReasonInvalidNIC, "spec.network.nic: %v", err)
		}
		if nic == opts.BridgeName {
			return State{}, Invalidf(ReasonInvalidNIC, "spec.network.nic %q is the VLAN bridge itself; name the physical NIC to enslave to it", nic)
		}
		if nic == st.BondName {
			return State{}, Invalidf(ReasonInvalidNIC, "spec.network.nic %q is the bond harvnet builds for spec.network.uplink; name a NIC, or ask for the bond in spec.network.uplink", nic)
		}
		if in.Spec.Network.Uplink != nil {
			return State{}, Invalidf(ReasonInvalidSpec, "set either spec.network.nic or spec.network.uplink, not both")
		}
		st.Uplink = nic
	}
	if u := in.Spec.Network.Uplink; u != nil {
		if err := computeUplink(&st, u, opts); err != nil {
			return State{}, err
		}
	}
	if err := computeMTU(in.Spec.Network.MTU); err != nil {
		return State{}, err
	}
	st.MTU = in.Spec.Network.MTU
	vlans, err := normalizeVLANs(in.VLANs)
	if err != nil {
		return State{}, err
	}
	st.VLANs = vlans
	return st, nil
}

// normalizeVLANs sorts and dedups VLAN IDs. VID 1 is the kernel's default
// PVID and stays as the kernel sets it, so it is dropped here.
// A bitmap rather than a map and a sort: a trunk of 4093 IDs is
// normalized twice in every pass.
func normalizeVLANs(in []int) ([]int, error) {
	var seen [MaxVLAN + 1]bool
	n := 0
	for _, v := range in {
		if v < MinVLAN || v > MaxVLAN {
			return nil, Invalidf(ReasonInvalidVLAN, "VLAN ID %d is outside %d..%d", v, MinVLAN, MaxVLAN)
		}
		if v != 1 && !seen[v] {
			seen[v] = true
			n++
		}
	}
	out := make([]int, 0, n)
	for v := 2; v <= MaxVLAN && len(out) < n; v++ {
		if seen[v] {
			out = append(out, v)
		}
	}
	return out, nil
}
