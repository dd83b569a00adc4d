package hostnet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// readDoctor reads what the host network doctor checks. It runs inside
// the namespace (h.do), on RefreshNetfilter only: the tools it runs cost
// milliseconds and none of it has netlink events. It only reads.
func (h *Host) readDoctor() *hoststate.Doctor {
	d := &hoststate.Doctor{Sysctls: map[string]string{}, Unreadable: map[string]string{}}
	h.readDoctorSysctls(d)
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		rules, err := h.nl.RuleList(fam)
		if err != nil {
			d.Unreadable["rules"] = err.Error()
			continue
		}
		for _, r := range rules {
			d.Rules = append(d.Rules, hoststate.Rule{Family: r.Family, Priority: r.Priority, Table: r.Table})
		}
	}
	if links, err := h.vxlans(); err != nil {
		d.Unreadable["links"] = err.Error()
	} else {
		for _, l := range links {
			if v, ok := l.(*netlink.Vxlan); ok {
				d.VXLANs = append(d.VXLANs, hoststate.VXLAN{Name: v.Name, Local: ipOf(v.SrcAddr), Underlay: v.VtepDevIndex})
			}
		}
	}
	for _, b := range []struct{ source, save, family, names string }{
		{"iptables-legacy", "iptables-legacy-save", "ip", "ip_tables_names"},
		{"iptables-nft", "iptables-nft-save", "ip", ""},
		{"ip6tables-legacy", "ip6tables-legacy-save", "ip6", "ip6_tables_names"},
		{"ip6tables-nft", "ip6tables-nft-save", "ip6", ""},
	} {
		if b.names != "" && !legacyTableExists(b.names) {
			continue // no legacy filter table: it drops nothing, and listing would create it
		}
		out, err := exec.Command(b.save, "-t", "filter").Output()
		if err != nil {
			d.Unreadable[b.source] = fmt.Sprintf("%s: %v", b.save, err)
			continue
		}
		cs := parseIPTablesSave(string(out))
		if _, ok := cs.policy["FORWARD"]; !ok {
			continue
		}
		c := cs.forwardChain("FORWARD")
		c.Source, c.Family, c.Table = b.source, b.family, "filter"
		d.ForwardChains = append(d.ForwardChains, c)
	}
	if out, err := exec.Command("nft", "-j", "list", "ruleset").Output(); err != nil {
		d.Unreadable["nft"] = err.Error()
	} else if chains, err := parseNftRuleset(out); err != nil {
		d.Unreadable["nft"] = err.Error()
	} else {
		d.ForwardChains = append(d.ForwardChains, chains...)
	}
	if len(d.Unreadable) == 0 {
		d.Unreadable = nil
	}
	return d
}

// readDoctorSysctls reads forwarding and every interface's rp_filter. net
// sysctls resolve in the namespace of the thread that opens them, so the
// caller runs this inside h.do.
func (h *Host) readDoctorSysctls(d *hoststate.Doctor) {
	read := func(key, rel string) {
		b, err := os.ReadFile(filepath.Join(h.sysctlDir, rel))
		if err == nil {
			d.Sysctls[key] = strings.TrimSpace(string(b))
		}
	}
	read(hoststate.SysctlIPForward, "net/ipv4/ip_forward")
	read(hoststate.SysctlIPv6Forward, "net/ipv6/conf/all/forwarding")
	// rp_filter matters only on links that are up with a global IPv4
	// address (pkg/doctor), a handful, while a node with a thousand VM
	// ports has a thousand directories here: read those the last read of
	// the host found (a link that got its address since is read on the
	// next resync), and all of them before the first read.
	h.mu.Lock()
	last := h.last
	h.mu.Unlock()
	names := []string{"all", "default"}
	if last == nil {
		ents, err := os.ReadDir(filepath.Join(h.sysctlDir, "net/ipv4/conf"))
		if err != nil {
			d.Unreadable["sysctl"] = err.Error()
			return
		}
		names = names[:0]
		for _, e := range ents {
			names = append(names, e.Name())
		}
	} else {
		for _, l := range last.Links {
			if l.AdminUp && !l.Loopback && slices.ContainsFunc(l.GlobalAddrs(), func(a hoststate.Addr) bool { return a.Prefix.Addr().Is4() }) {
				names = append(names, l.Name)
			}
		}
	}
	for _, n := range names {
		read(hoststate.RPFilterKey(n), filepath.Join("net/ipv4/conf", n, "rp_filter"))
	}
}

// legacyTableExists reports whether the legacy filter table of one family
// (ip_tables_names, ip6_tables_names) exists in the calling thread's
// namespace.
func legacyTableExists(names string) bool {
	b, err := os.ReadFile("/proc/thread-self/net/" + names)
	return err == nil && strings.Contains("\n"+string(b), "\nfilter\n")
}
