package hostnet

import (
	"fmt"
	"net"
	"os/exec"
	"strings"

	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

// ebtablesCandidates are tried in order: Debian 12's nft-based ebtables has
// no broute table, while ebtables-legacy has one on kernels that build it.
var ebtablesCandidates = []string{"ebtables-legacy", "ebtables"}

// ebtables is one backend: bin is its name, path where it lives.
type ebtables struct{ bin, path string }

// findEbtables returns the first backend with a usable broute table, or a
// sentence saying why each one failed.
func findEbtables() (*ebtables, string) {
	var why []string
	for _, bin := range ebtablesCandidates {
		path, err := exec.LookPath(bin)
		if err != nil {
			why = append(why, bin+": not installed")
			continue
		}
		e := &ebtables{bin: bin, path: path}
		if out, err := e.run("-L", "BROUTING"); err != nil {
			why = append(why, bin+": "+firstLine(out, err))
			continue
		}
		return e, ""
	}
	return nil, "no ebtables with a broute table (" + strings.Join(why, "; ") + ")"
}

func (e *ebtables) run(args ...string) (string, error) {
	cmd := exec.Command(e.path, ebtablesArgs(args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// ebtablesArgs aims args at the broute table. --concurrent makes
// ebtables-legacy take its file lock (/var/lib/ebtables/lock): it reads, edits
// and writes back a whole table, so without it a concurrent writer (another
// agent, the admin, a CNI plugin) and harvnet can each lose the other's
// rule. Both Debian 12 flavours accept it (the nft one ignores it; nftables
// transactions need no lock).
func ebtablesArgs(args ...string) []string {
	return append([]string{"--concurrent", "-t", "broute"}, args...)
}

func firstLine(out string, err error) string {
	if l, _, _ := strings.Cut(strings.TrimSpace(out), "\n"); l != "" {
		return l
	}
	return err.Error()
}

// list returns the DHCP rules harvnet owns in BROUTING.
func (e *ebtables) list() ([]hoststate.DHCPRule, error) {
	out, err := e.run("-L", "BROUTING", "--Lmac2")
	if err != nil {
		return nil, fmt.Errorf("%s: %s", e.bin, firstLine(out, err))
	}
	var rules []hoststate.DHCPRule
	for _, line := range strings.Split(out, "\n") {
		if r, ok := parseDHCPRule(line); ok {
			rules = append(rules, r)
		}
	}
	return rules, nil
}

// parseDHCPRule recognises a line as listed by `ebtables -L --Lmac2`, e.g.
// "-p IPv4 -s 52:54:00:12:34:56 -i eth0 --ip-proto udp --ip-dport 67:68 -j DROP".
func parseDHCPRule(line string) (hoststate.DHCPRule, bool) {
	f := strings.Fields(line)
	opt := map[string]string{}
	for i := 0; i+1 < len(f); i += 2 {
		opt[f[i]] = f[i+1]
	}
	if !strings.EqualFold(opt["-p"], "IPv4") || opt["--ip-proto"] != "udp" && opt["--ip-proto"] != "17" ||
		opt["--ip-dport"] != "67:68" || opt["-j"] != "DROP" || opt["-i"] == "" {
		return hoststate.DHCPRule{}, false
	}
	r := hoststate.DHCPRule{NIC: opt["-i"]}
	switch {
	case opt["-s"] != "" && opt["-d"] == "":
		r.MAC, r.Dir = opt["-s"], hoststate.DirSrc
	case opt["-d"] != "" && opt["-s"] == "":
		r.MAC, r.Dir = opt["-d"], hoststate.DirDst
	default:
		return hoststate.DHCPRule{}, false
	}
	mac, err := net.ParseMAC(r.MAC)
	if err != nil {
		return hoststate.DHCPRule{}, false
	}
	r.MAC = mac.String()
	return r, true
}

// ruleArgs renders the design's rule: DHCP to or from the NIC's own MAC is
// routed (DROP in broute) to the NIC instead of being bridged.
func ruleArgs(r hoststate.DHCPRule) []string {
	side := "-s"
	if r.Dir == hoststate.DirDst {
		side = "-d"
	}
	return []string{"BROUTING", "-p", "ipv4", "--ip-proto", "udp", "--ip-destination-port", "67:68", "-i", r.NIC, side, r.MAC, "-j", "DROP"}
}

func (h *Host) dhcpRule(add bool, r hoststate.DHCPRule) error {
	h.mu.Lock()
	e := h.ebt
	h.mu.Unlock()
	if e == nil {
		return plan.Unsupported(plan.CapBroute, "no ebtables backend with a broute table")
	}
	op := "-A"
	if !add {
		op = "-D"
	}
	return h.do(func() error {
		if out, err := e.run(append([]string{op}, ruleArgs(r)...)...); err != nil {
			return fmt.Errorf("%s %s: %s", e.bin, op, firstLine(out, err))
		}
		return nil
	})
}
