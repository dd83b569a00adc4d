package netnstest

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Link is the part of `ip -j -d addr show` tests look at: the one view of
// a link for the netns tests and the e2e.
type Link struct {
	Index     int      `json:"ifindex"`
	Name      string   `json:"ifname"`
	Flags     []string `json:"flags"`
	OperState string   `json:"operstate"`
	MTU       int      `json:"mtu"`
	Master    string   `json:"master"`
	Address   string   `json:"address"`
	Alias     string   `json:"ifalias"`
	LinkInfo  struct {
		Kind string `json:"info_kind"`
		Data struct {
			VLANFiltering *int `json:"vlan_filtering"`
		} `json:"info_data"`
	} `json:"linkinfo"`
	AddrInfo []Addr `json:"addr_info"`
}

// Addr is one address of a Link.
type Addr struct {
	Local     string `json:"local"`
	PrefixLen int    `json:"prefixlen"`
	Scope     string `json:"scope"`     // "global", "link", "host"
	Tentative bool   `json:"tentative"` // still in duplicate address detection
}

// Up reports whether the link is administratively up.
func (l Link) Up() bool { return slices.Contains(l.Flags, "UP") }

// GlobalAddrs lists the link's global addresses as "addr/len", sorted, so
// they compare equal however the kernel ordered them.
func (l Link) GlobalAddrs() []string {
	var out []string
	for _, a := range l.AddrInfo {
		if a.Scope == "global" {
			out = append(out, a.Local+"/"+strconv.Itoa(a.PrefixLen))
		}
	}
	slices.Sort(out)
	return out
}

// Link returns what the kernel reports of a link, and false if it is gone.
func (n *NS) Link(t testing.TB, name string) (Link, bool) {
	t.Helper()
	out, err := n.TryIP("-j", "-d", "addr", "show", "dev", name)
	if err != nil {
		return Link{}, false
	}
	var ls []Link
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) > 1 {
		t.Fatalf("parsing ip -j addr show %s: %v: %s", name, err, out)
	}
	if len(ls) == 0 {
		return Link{}, false // gone between the name lookup and the dump
	}
	return ls[0], true
}

// Links returns what the kernel reports of every link in the namespace.
func (n *NS) Links(t testing.TB) []Link {
	t.Helper()
	out := n.IP(t, "-j", "-d", "addr", "show")
	var ls []Link
	if err := json.Unmarshal([]byte(out), &ls); err != nil {
		t.Fatalf("parsing ip -j addr show: %v: %s", err, out)
	}
	return ls
}

// Routes returns `ip route show dev name` lines of a family ("-4" or "-6").
func (n *NS) Routes(t testing.TB, family, dev string) []string {
	t.Helper()
	out, err := n.TryIP(family, "route", "show", "dev", dev)
	if err != nil {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
