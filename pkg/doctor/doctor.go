// Package doctor finds the host network pitfalls that most often break VM
// and pod networking on a node. It is pure: each check is a function over
// one observation of the host, and returns diagnostics with the exact
// command that fixes each. harvnet reports them and never applies a fix.
package doctor

import (
	"sort"
	"strings"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// Check names, as they appear in status.diagnostics[].check.
const (
	CheckBridgeNFCallIPTables = "BridgeNFCallIPTables"
	CheckForwardDrop          = "ForwardDrop"
	CheckStrictRPFilter       = "StrictRPFilter"
	CheckVXLANLocal           = "VXLANLocal"
	CheckBridgeMTU            = "BridgeMTU"
	CheckVXLANMTU             = "VXLANMTU"
	CheckIPForward            = "IPForward"
	CheckNADMTU               = "NADMTU"
)

// Checks lists every check name, for a metric per check.
var Checks = []string{CheckBridgeNFCallIPTables, CheckForwardDrop, CheckStrictRPFilter, CheckVXLANLocal, CheckBridgeMTU, CheckVXLANMTU, CheckIPForward, CheckNADMTU}

// MaxDiagnostics is the API's limit on status.diagnostics.
const MaxDiagnostics = 64

// Input is what the checks look at.
type Input struct {
	Host   *hoststate.State
	Bridge string // the VLAN bridge harvnet manages
	Uplink string // the NIC enslaved to it, "" for none
	// MTU is spec.network.mtu, 0 when unset.
	MTU int
	// NADMTUs are the MTUs the bridge's NADs give their VMs.
	NADMTUs []desired.NADMTU
}

var checks = []func(Input) []v1alpha1.Diagnostic{
	bridgeNF, forwardDrop, strictRPFilter, vxlanLocal, bridgeMTU, vxlanMTU, ipForward, nadMTU,
}

// Run returns every diagnostic, sorted by check and subject, at most
// MaxDiagnostics of them.
func Run(in Input) []v1alpha1.Diagnostic {
	if in.Host == nil {
		return nil
	}
	var out []v1alpha1.Diagnostic
	for _, c := range checks {
		out = append(out, c(in)...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Check != out[j].Check {
			return out[i].Check < out[j].Check
		}
		return out[i].Subject < out[j].Subject
	})
	if len(out) > MaxDiagnostics {
		out = out[:MaxDiagnostics]
	}
	return out
}

// bridge returns the VLAN bridge when it exists.
func (in Input) bridge() (hoststate.Link, bool) {
	l, ok := in.Host.Link(in.Bridge)
	return l, ok && in.Bridge != "" && l.Type == "bridge"
}

func (in Input) sysctl(name string) (string, bool) {
	if in.Host.Doctor == nil {
		return "", false
	}
	v, ok := in.Host.Doctor.Sysctls[name]
	return v, ok
}

// sysctlArg is a sysctl name as `sysctl -w` takes it: an interface name
// with a dot (eth0.100) needs the slash form, or sysctl splits it.
func sysctlArg(prefix, ifname, suffix string) string {
	if strings.Contains(ifname, ".") {
		return strings.ReplaceAll(prefix, ".", "/") + "/" + ifname + "/" + suffix
	}
	return prefix + "." + ifname + "." + suffix
}

func diag(check, subject string, sev v1alpha1.DiagnosticSeverity, msg, fix string) v1alpha1.Diagnostic {
	return v1alpha1.Diagnostic{Check: check, Subject: subject, Severity: sev, Message: msg, Fix: fix}
}
