package status

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// Build returns the status for a reconcile result. Condition timestamps are
// left zero: SetTransitions fills them against the status last written.
func Build(res reconcile.Result, opts desired.Options, generation int64) v1alpha1.NodeStatus {
	st := v1alpha1.NodeStatus{ObservedGeneration: generation, Bridge: opts.BridgeName}
	st.Conditions = conditions(res)
	st.UplinkNICs = res.UplinkNICs
	st.Rollback = rollbackStatus(res)
	h := res.Host
	if h == nil {
		return st
	}
	st.NICs = Inventory(h, opts)
	st.Diagnostics = Diagnostics(res, opts)
	st.DiagnosticCount = len(st.Diagnostics)
	st.NetworkStatus = map[string]v1alpha1.LinkStatus{}
	show := func(name string) {
		if l, ok := h.Link(name); ok {
			st.NetworkStatus[name] = linkStatus(h, l)
		}
	}
	show(opts.BridgeName)
	if br, ok := h.Link(opts.BridgeName); ok {
		st.MTU = br.MTU
	}
	uplink := res.Desired.Uplink
	if uplink != "" {
		show(uplink)
		if l, ok := h.Link(uplink); ok {
			st.UplinkStatus = LinkState(l)
			st.NetworkIDs = h.TaggedVLANs(uplink)
			st.BondState = BondState(st.NetworkStatus[uplink].Bond)
		}
	}
	if m, ok := Management(h); ok {
		show(m.Name)
	}
	if len(st.NetworkStatus) == 0 {
		st.NetworkStatus = nil
	}
	return st
}

// Inventory lists the links that may be picked as uplink.
func Inventory(h *hoststate.State, opts desired.Options) []v1alpha1.NIC {
	mgmt, hasMgmt := Management(h)
	var out []v1alpha1.NIC
	for _, l := range h.Links {
		if l.Loopback || l.Name == opts.BridgeName || !opts.UplinkTypeAllowed(l.Type) {
			continue
		}
		n := v1alpha1.NIC{
			Name:       l.Name,
			Index:      l.Index,
			Type:       l.Type,
			MAC:        l.MAC,
			MTU:        l.MTU,
			LinkStatus: LinkState(l),
			// What an admin needs to name the NIC by a stable identity
			// (spec.network.uplink.nics) without logging in to the node.
			Driver:       l.Driver,
			SpeedMbps:    l.SpeedMbps,
			PCIAddress:   l.PCIAddress,
			PermanentMAC: l.PermanentMAC,
		}
		if m, ok := h.LinkByIndex(l.MasterIndex); ok {
			n.Master = m.Name
		}
		n.UsedByManagement = hasMgmt && (mgmt.Index == l.Index || under(h, l, mgmt.Index))
		_, n.UnusableReason = desired.Unusable(l, h, opts.BridgeName, opts)
		n.Usable = n.UnusableReason == ""
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func condition(t string, ok bool, reason, msg string) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg}
}
