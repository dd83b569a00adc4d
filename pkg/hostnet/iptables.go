package hostnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/coreos/go-iptables/iptables"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// iptablesBackends are the two iptables variants. A node can have rules in
// both (a distribution firewall in one, kube-proxy or Docker in the other)
// and a packet must pass both, so each one's FORWARD chain is read and
// fixed on its own.
var iptablesBackends = []struct{ name, bin string }{
	{"nf_tables", "iptables-nft"},
	{"legacy", "iptables-legacy"},
}

// iptablesFor returns a handle on one backend's iptables command; where a
// system has only a plain `iptables`, that one serves the backend it runs.
func iptablesFor(backend string) (*iptables.IPTables, error) {
	for _, b := range iptablesBackends {
		if b.name != backend {
			continue
		}
		if path, err := exec.LookPath(b.bin); err == nil {
			return iptables.New(iptables.Path(path))
		}
	}
	// Plain iptables says its backend in its version: "v1.8.9 (nf_tables)".
	out, err := exec.Command("iptables", "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("no iptables command for the %s backend: %w", backend, err)
	}
	if strings.Contains(string(out), "(nf_tables)") == (backend == "nf_tables") {
		return iptables.New()
	}
	return nil, fmt.Errorf("no iptables command for the %s backend (iptables is %s)", backend, strings.TrimSpace(string(out)))
}

// legacyFilterExists reports whether the legacy filter table exists in the
// calling thread's namespace. Listing it would create it, and a table that
// does not exist drops nothing.
func legacyFilterExists() bool {
	b, err := os.ReadFile("/proc/thread-self/net/ip_tables_names")
	return err == nil && strings.Contains("\n"+string(b), "\nfilter\n")
}

// readForward reads the FORWARD chain of every backend in use. It fails
// only when no backend can be read at all.
func readForward() ([]hoststate.Forward, error) {
	var out []hoststate.Forward
	var errs []error
	for _, b := range iptablesBackends {
		if b.name == "legacy" && !legacyFilterExists() {
			continue
		}
		ipt, err := iptablesFor(b.name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", b.name, err))
			continue
		}
		f, err := listForward(ipt)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading the %s FORWARD chain: %w", b.name, err))
			continue
		}
		f.Backend = b.name
		out = append(out, f)
	}
	if out == nil && errs != nil {
		return nil, fmt.Errorf("iptables is not usable: %w", errors.Join(errs...))
	}
	return out, nil
}

func listForward(ipt *iptables.IPTables) (hoststate.Forward, error) {
	lines, err := ipt.List("filter", "FORWARD")
	if err != nil {
		return hoststate.Forward{}, err
	}
	return parseForward(lines), nil
}

// parseForward reads `iptables -t filter -S FORWARD` output: the policy,
// and the bridges that rules exactly like forwardRules (an older agent's) accept.
func parseForward(lines []string) hoststate.Forward {
	var f hoststate.Forward
	for _, l := range lines {
		fs := strings.Fields(l)
		switch {
		case len(fs) == 3 && fs[0] == "-P":
			f.Policy = fs[2]
		case len(fs) != 6 || fs[0] != "-A" || fs[4] != "-j" || fs[5] != "ACCEPT":
		case fs[2] == "-i": // "-A FORWARD -i br -j ACCEPT", as forwardRules adds it
			f.AcceptIn = append(f.AcceptIn, fs[3])
		case fs[2] == "-o":
			f.AcceptOut = append(f.AcceptOut, fs[3])
		}
	}
	return f
}

// forwardRules are the rules agents before the operate-safely change
// inserted first in FORWARD; they are only removed now (plan.forwardStep says
// why). parseForward recognises exactly these.
func forwardRules(bridge string) [][]string {
	return [][]string{{"-i", bridge, "-j", "ACCEPT"}, {"-o", bridge, "-j", "ACCEPT"}}
}

func (h *Host) delForwardAccept(backend, bridge string) error {
	return h.do(func() error {
		ipt, err := iptablesFor(backend)
		if err != nil {
			return err
		}
		for _, r := range forwardRules(bridge) {
			if err := ipt.DeleteIfExists("filter", "FORWARD", r...); err != nil {
				return err
			}
		}
		return nil
	})
}
