package hostnet

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

const bridgeNFCallIPTables = "net/bridge/bridge-nf-call-iptables"

// netfilterState is what RefreshNetfilter read last.
type netfilterState struct {
	bridgeNF *int
	forward  []hoststate.Forward
	dhcp     []hoststate.DHCPRule
	backend  string
	missing  plan.Missing
	doctor   *hoststate.Doctor // read-only snapshot for the doctor
}

func (n netfilterState) copyTo(st *hoststate.State) {
	st.BridgeNFCallIPTables = n.bridgeNF
	st.Forward = nil
	for _, f := range n.forward {
		f.AcceptIn = append([]string(nil), f.AcceptIn...)
		f.AcceptOut = append([]string(nil), f.AcceptOut...)
		st.Forward = append(st.Forward, f)
	}
	st.DHCPRules = append([]hoststate.DHCPRule(nil), n.dhcp...)
	st.DHCPBackend = n.backend
	st.Doctor = n.doctor // never changed after it is read: shared
}

// RefreshNetfilter reads the sysctl, the FORWARD chain and the broute rules,
// which have no netlink events, and says which of their tools are missing.
func (h *Host) RefreshNetfilter() plan.Missing {
	var n netfilterState
	n.missing = plan.Missing{}
	_ = h.do(func() error {
		n.bridgeNF = h.readBridgeNF()
		n.doctor = h.readDoctor()
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

func (h *Host) readBridgeNF() *int {
	b, err := os.ReadFile(filepath.Join(h.sysctlDir, bridgeNFCallIPTables))
	if err != nil {
		return nil // br_netfilter is not loaded in this namespace
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return nil
	}
	return &n
}

func (h *Host) setBridgeNF(v int) error {
	return h.do(func() error {
		// net sysctls resolve in the namespace of the thread that opens
		// them, wherever procfs is mounted, so h.do aims the write.
		return os.WriteFile(filepath.Join(h.sysctlDir, bridgeNFCallIPTables), []byte(strconv.Itoa(v)), 0o644)
	})
}
