package hostnet

import (
	"strconv"
	"strings"

	"github.com/containernetworking/plugins/pkg/utils/sysctl"

	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

const bridgeNFCallIPTables = "net/bridge/bridge-nf-call-iptables"

// netfilterState is what RefreshNetfilter read last.
type netfilterState struct {
	bridgeNF *int
	forward  hoststate.Forward
	dhcp     []hoststate.DHCPRule
	backend  string
	missing  plan.Missing
}

func (n netfilterState) copyTo(st *hoststate.State) {
	st.BridgeNFCallIPTables = n.bridgeNF
	st.Forward = n.forward
	st.Forward.AcceptIn = append([]string(nil), n.forward.AcceptIn...)
	st.Forward.AcceptOut = append([]string(nil), n.forward.AcceptOut...)
	st.DHCPRules = append([]hoststate.DHCPRule(nil), n.dhcp...)
	st.DHCPBackend = n.backend
}

// RefreshNetfilter reads the sysctl, the FORWARD chain and the broute rules,
// which have no netlink events, and says which of their tools are missing.
func (h *Host) RefreshNetfilter() plan.Missing {
	var n netfilterState
	n.missing = plan.Missing{}
	_ = h.do(func() error {
		n.bridgeNF = readBridgeNF()
		if fw, err := readForward(); err != nil {
			n.missing[plan.CapIPTables] = err.Error()
		} else {
			n.forward = fw
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.ebt == nil {
			var why string
			if h.ebt, why = findEbtables(); h.ebt == nil {
				n.missing[plan.CapBroute] = why
				return nil
			}
		}
		n.backend = h.ebt.bin
		rules, err := h.ebt.list()
		if err != nil {
			n.missing[plan.CapBroute] = err.Error()
		}
		n.dhcp = rules
		return nil
	})
	h.mu.Lock()
	h.netfilter = n
	h.mu.Unlock()
	return n.missing
}

func readBridgeNF() *int {
	v, err := sysctl.Sysctl(bridgeNFCallIPTables)
	if err != nil {
		return nil // br_netfilter is not loaded in this namespace
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return nil
	}
	return &n
}

func (h *Host) setBridgeNF(v int) error {
	return h.do(func() error {
		_, err := sysctl.Sysctl(bridgeNFCallIPTables, strconv.Itoa(v))
		return err
	})
}
