package doctor

import (
	"fmt"
	"strings"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// bridgeNF fires when bridged frames pass iptables while the VLAN bridge
// exists. harvnet sets net.bridge.bridge-nf-call-iptables to 0 on every
// pass that manages the bridge, and the doctor looks at the host as the
// pass left it, so this shows what the agent does not hold: the write did
// not stick (another component sets it back, a read-only /proc/sys), or
// the bridge is there while harvnet is not managing it (teardown, a
// corrupt state file). The value is per network namespace, so any 1 means
// every bridge's frames, this one's included, go through iptables.
func bridgeNF(in Input) []v1alpha1.Diagnostic {
	v := in.Host.BridgeNFCallIPTables
	if _, ok := in.bridge(); !ok || v == nil || *v == 0 {
		return nil
	}
	return []v1alpha1.Diagnostic{diag(CheckBridgeNFCallIPTables, "", v1alpha1.SeverityError,
		fmt.Sprintf("net.bridge.bridge-nf-call-iptables is %d while %s exists: bridged VM frames pass iptables, so kube-proxy de-SNATs traffic between VMs and services on this host inside the bridge and it is dropped, and a FORWARD DROP policy drops VM traffic; harvnet sets it to 0 when it manages the bridge, so something on this node sets it back or the write failed", *v, in.Bridge),
		"sysctl -w net.bridge.bridge-nf-call-iptables=0")}
}

// forwardDrop fires for each chain on the forward hook that drops what no
// rule accepts (policy DROP, or a final unconditional drop or reject as
// firewalld's) when no accepting rule matches the bridge as input or
// output interface and none accepts everything.
func forwardDrop(in Input) []v1alpha1.Diagnostic {
	if _, ok := in.bridge(); !ok || in.Host.Doctor == nil {
		return nil
	}
	var out []v1alpha1.Diagnostic
	for _, c := range in.Host.Doctor.ForwardChains {
		if !c.Drops || letsThrough(c.Accepts, in.Bridge) {
			continue
		}
		subject := fmt.Sprintf("%s %s %s %s", c.Source, c.Family, c.Table, c.Chain)
		out = append(out, diag(CheckForwardDrop, subject, v1alpha1.SeverityError,
			fmt.Sprintf("%s: the %s chain of table %s %s drops forwarded packets and no rule accepts %s's traffic, so routed traffic to and from VMs on the bridge is dropped", c.Source, c.Chain, c.Family, c.Table, in.Bridge),
			forwardFix(c, in.Bridge)))
	}
	return out
}

func letsThrough(accepts []hoststate.Accept, bridge string) bool {
	for _, a := range accepts {
		if ifMatch(a.In, bridge) && a.In != "" || ifMatch(a.Out, bridge) && a.Out != "" {
			return true
		}
		if a.In == "" && a.Out == "" && !a.Conditional {
			return true
		}
	}
	return false
}

// ifMatch matches an interface pattern as iptables ("br+") and nftables
// ("br*") write prefixes; "" matches any.
func ifMatch(pattern, name string) bool {
	if p, ok := strings.CutSuffix(pattern, "+"); ok {
		return strings.HasPrefix(name, p)
	}
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, p)
	}
	return pattern == "" || pattern == name
}

func forwardFix(c hoststate.ForwardChain, bridge string) string {
	switch {
	case c.Source == "nft" && c.Family == "inet" && c.Table == "firewalld":
		// firewalld rewrites its table on reload: the interface goes into
		// a zone that accepts its traffic instead.
		return fmt.Sprintf("firewall-cmd --permanent --zone=trusted --add-interface=%s && firewall-cmd --reload", bridge)
	case c.Source == "nft":
		return fmt.Sprintf(`nft 'insert rule %[1]s %[2]s %[3]s iifname "%[4]s" accept' && nft 'insert rule %[1]s %[2]s %[3]s oifname "%[4]s" accept'`, c.Family, c.Table, c.Chain, bridge)
	default:
		return fmt.Sprintf("%[1]s -I %[2]s 1 -i %[3]s -j ACCEPT && %[1]s -I %[2]s 1 -o %[3]s -j ACCEPT", c.Source, c.Chain, bridge)
	}
}
