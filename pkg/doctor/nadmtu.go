package doctor

import (
	"fmt"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// specMaxMTU is the largest spec.network.mtu the CRD accepts.
const specMaxMTU = 9000

// nadMTU fires for each bridge NAD whose "mtu" is larger than what the
// uplink carries: its VMs send frames the uplink drops, silently, once
// they are bigger than the uplink's MTU. The uplink's MTU is
// spec.network.mtu when set (what the agent makes it), else the kernel's.
// Without an uplink VM traffic stays on the node, and nothing is dropped.
func nadMTU(in Input) []v1alpha1.Diagnostic {
	if in.Uplink == "" || len(in.NADMTUs) == 0 {
		return nil
	}
	limit, from := in.MTU, "spec.network.mtu"
	if limit == 0 {
		up, ok := in.Host.Link(in.Uplink)
		if !ok || up.MTU == 0 {
			return nil
		}
		limit, from = up.MTU, "its MTU now; spec.network.mtu is not set"
	}
	var out []v1alpha1.Diagnostic
	for _, n := range in.NADMTUs {
		if n.MTU <= limit {
			continue
		}
		remedy := fmt.Sprintf("set spec.network.mtu of this node to %d, or lower the NAD's mtu to %d", n.MTU, limit)
		if n.MTU > specMaxMTU {
			remedy = fmt.Sprintf("lower the NAD's mtu to %d, or to at most %d with spec.network.mtu raised as far (its maximum)", limit, specMaxMTU)
		}
		out = append(out, diag(CheckNADMTU, n.NAD, v1alpha1.SeverityError,
			fmt.Sprintf("NAD %s gives its VMs MTU %d but the uplink %s carries %d (%s): their frames larger than %d bytes are dropped; %s",
				n.NAD, n.MTU, in.Uplink, limit, from, limit, remedy), ""))
	}
	return out
}
