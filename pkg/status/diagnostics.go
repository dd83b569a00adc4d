package status

import (
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/doctor"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// Diagnostics returns the doctor's findings on the host as the pass left
// it, sorted by check and subject so an unchanged host gives an equal
// status and no write. Nil when the host could not be read.
func Diagnostics(res reconcile.Result, opts desired.Options) []v1alpha1.Diagnostic {
	if res.Host == nil {
		return nil
	}
	return doctor.Run(doctor.Input{Host: res.Host, Bridge: opts.BridgeName, Uplink: res.Desired.Uplink,
		MTU: res.Input.Spec.Network.MTU, NADMTUs: res.Input.NADMTUs})
}
