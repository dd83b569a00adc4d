package hostnet

import (
	"fmt"
	"strings"

	"github.com/coreos/go-iptables/iptables"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

func newIPTables() (*iptables.IPTables, error) {
	ipt, err := iptables.New()
	if err != nil {
		return nil, fmt.Errorf("iptables is not usable: %v", err)
	}
	return ipt, nil
}

func readForward() (hoststate.Forward, error) {
	ipt, err := newIPTables()
	if err != nil {
		return hoststate.Forward{}, err
	}
	lines, err := ipt.List("filter", "FORWARD")
	if err != nil {
		return hoststate.Forward{}, fmt.Errorf("reading the FORWARD chain: %v", err)
	}
	f := hoststate.Forward{Known: true}
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
	return f, nil
}

func forwardRules(bridge string) [][]string {
	return [][]string{{"-i", bridge, "-j", "ACCEPT"}, {"-o", bridge, "-j", "ACCEPT"}}
}

func (h *Host) addForwardAccept(bridge string) error {
	return h.do(func() error {
		ipt, err := newIPTables()
		if err != nil {
			return err
		}
		for _, r := range forwardRules(bridge) {
			ok, err := ipt.Exists("filter", "FORWARD", r...)
			if err != nil {
				return err
			}
			if !ok {
				// First in the chain: a later DROP rule must not shadow it.
				if err := ipt.Insert("filter", "FORWARD", 1, r...); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func (h *Host) delForwardAccept(bridge string) error {
	return h.do(func() error {
		ipt, err := newIPTables()
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
