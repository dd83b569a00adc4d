package doctor

import (
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

const br = "harvester-br0"

func addr(s string) hoststate.Addr { return hoststate.Addr{Prefix: netip.MustParsePrefix(s)} }

func ptr(v int) *int { return &v }

// node is a host with the VLAN bridge (index 3) and its uplink eth1
// (index 2, MTU 1500), eth0 (index 1) with the management address, and a
// doctor snapshot with nothing wrong.
func node() *hoststate.State {
	return &hoststate.State{
		Links: []hoststate.Link{
			{Name: "lo", Index: 0, Loopback: true, AdminUp: true, Addrs: hoststate.Addrs{addr("127.0.0.1/8")}},
			{Name: "eth0", Index: 1, Type: "device", MTU: 1500, AdminUp: true, Addrs: hoststate.Addrs{addr("10.0.0.5/24")}},
			{Name: "eth1", Index: 2, Type: "device", MTU: 1500, AdminUp: true, MasterIndex: 3},
			{Name: br, Index: 3, Type: "bridge", MTU: 1500, AdminUp: true, Addrs: hoststate.Addrs{addr("10.1.0.5/24")}},
		},
		BridgeNFCallIPTables: ptr(0),
		Doctor: &hoststate.Doctor{
			Sysctls: map[string]string{
				hoststate.SysctlIPForward:     "1",
				hoststate.SysctlIPv6Forward:   "1",
				"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.eth0.rp_filter": "0", "net.ipv4.conf." + br + ".rp_filter": "0",
			},
			Rules: []hoststate.Rule{
				{Family: unix.AF_INET, Priority: 0, Table: hoststate.TableLocal},
				{Family: unix.AF_INET, Priority: 32766, Table: hoststate.TableMain},
				{Family: unix.AF_INET, Priority: 32767, Table: hoststate.TableDefault},
			},
		},
	}
}

func TestRun(t *testing.T) {
	tests := []struct {
		name string
		edit func(h *hoststate.State)
		want []string // check/subject: fix, in order
	}{
		{name: "healthy node", edit: func(*hoststate.State) {}},
		{name: "bridge-nf-call-iptables=1 with the bridge", edit: func(h *hoststate.State) { h.BridgeNFCallIPTables = ptr(1) },
			want: []string{"BridgeNFCallIPTables/: sysctl -w net.bridge.bridge-nf-call-iptables=0"}},
		{name: "bridge-nf-call-iptables=1 without the bridge", edit: func(h *hoststate.State) {
			h.BridgeNFCallIPTables = ptr(1)
			h.Links = h.Links[:3]
		}},
		{name: "br_netfilter not loaded", edit: func(h *hoststate.State) { h.BridgeNFCallIPTables = nil }},
		{name: "legacy FORWARD DROP without a bridge rule, nft with one", edit: func(h *hoststate.State) {
			h.Doctor.ForwardChains = []hoststate.ForwardChain{
				{Source: "iptables-legacy", Family: "ip", Table: "filter", Chain: "FORWARD", Drops: true,
					Accepts: []hoststate.Accept{{In: "docker0"}, {Conditional: true}}},
				{Source: "iptables-nft", Family: "ip", Table: "filter", Chain: "FORWARD", Drops: true,
					Accepts: []hoststate.Accept{{Out: br, Conditional: true}}},
			}
		}, want: []string{"ForwardDrop/iptables-legacy ip filter FORWARD: iptables-legacy -I FORWARD 1 -i harvester-br0 -j ACCEPT && iptables-legacy -I FORWARD 1 -o harvester-br0 -j ACCEPT"}},
		{name: "FORWARD accepting all, or by prefix, or policy ACCEPT", edit: func(h *hoststate.State) {
			h.Doctor.ForwardChains = []hoststate.ForwardChain{
				{Source: "iptables-legacy", Family: "ip", Table: "filter", Chain: "FORWARD", Drops: true, Accepts: []hoststate.Accept{{}}},
				{Source: "iptables-nft", Family: "ip", Table: "filter", Chain: "FORWARD", Drops: true, Accepts: []hoststate.Accept{{In: "harvester-+"}}},
				{Source: "nft", Family: "inet", Table: "x", Chain: "fwd", Drops: true, Accepts: []hoststate.Accept{{Out: "harvester*"}}},
				{Source: "nft", Family: "inet", Table: "y", Chain: "fwd"},
			}
		}},
		{name: "native nft and firewalld dropping", edit: func(h *hoststate.State) {
			h.Doctor.ForwardChains = []hoststate.ForwardChain{
				{Source: "nft", Family: "inet", Table: "filter", Chain: "forward", Drops: true},
				{Source: "nft", Family: "inet", Table: "firewalld", Chain: "filter_FORWARD", Drops: true, Accepts: []hoststate.Accept{{In: "lo"}}},
			}
		}, want: []string{
			`ForwardDrop/nft inet filter forward: nft 'insert rule inet filter forward iifname "harvester-br0" accept' && nft 'insert rule inet filter forward oifname "harvester-br0" accept'`,
			"ForwardDrop/nft inet firewalld filter_FORWARD: firewall-cmd --permanent --zone=trusted --add-interface=harvester-br0 && firewall-cmd --reload",
		}},
		{name: "FORWARD DROP without the bridge", edit: func(h *hoststate.State) {
			h.Links = h.Links[:3]
			h.Doctor.ForwardChains = []hoststate.ForwardChain{{Source: "nft", Family: "inet", Table: "filter", Chain: "forward", Drops: true}}
		}},
		{name: "strict rp_filter on one interface with a policy rule", edit: func(h *hoststate.State) {
			h.Doctor.Rules = append(h.Doctor.Rules, hoststate.Rule{Family: unix.AF_INET, Priority: 100, Table: 100})
			h.Doctor.Sysctls["net.ipv4.conf.eth0.rp_filter"] = "1"
		}, want: []string{"StrictRPFilter/eth0: sysctl -w net.ipv4.conf.eth0.rp_filter=2"}},
		{name: "strict rp_filter from all, loose on the bridge wins, dotted name", edit: func(h *hoststate.State) {
			h.Doctor.Rules = append(h.Doctor.Rules, hoststate.Rule{Family: unix.AF_INET, Priority: 100, Table: 100})
			h.Links[1].Name = "eth0.7"
			h.Doctor.Sysctls["net.ipv4.conf.eth0.7.rp_filter"] = "0"
			h.Doctor.Sysctls["net.ipv4.conf.all.rp_filter"] = "1"
			h.Doctor.Sysctls["net.ipv4.conf."+br+".rp_filter"] = "2"
		}, want: []string{"StrictRPFilter/eth0.7: sysctl -w net/ipv4/conf/eth0.7/rp_filter=2"}},
		{name: "strict rp_filter without policy rules, or with an IPv6 one only", edit: func(h *hoststate.State) {
			h.Doctor.Rules = append(h.Doctor.Rules, hoststate.Rule{Family: unix.AF_INET6, Priority: 100, Table: 100})
			h.Doctor.Sysctls["net.ipv4.conf.all.rp_filter"] = "1"
		}},
		{name: "flannel.1 local not on its underlay", edit: func(h *hoststate.State) {
			h.Links = append(h.Links, hoststate.Link{Name: "flannel.1", Index: 9, Type: "vxlan", MTU: 1450})
			h.Links[1].Addrs = append(h.Links[1].Addrs, addr("fd00::5/64"))
			h.Doctor.VXLANs = []hoststate.VXLAN{{Name: "flannel.1", Local: netip.MustParseAddr("10.1.0.5"), Underlay: 1}}
		}, want: []string{"VXLANLocal/flannel.1: ip link set dev flannel.1 type vxlan local 10.0.0.5"}},
		{name: "unpinned VXLAN local on no interface", edit: func(h *hoststate.State) {
			h.Doctor.VXLANs = []hoststate.VXLAN{{Name: "vx0", Local: netip.MustParseAddr("192.0.2.1")}}
		}, want: []string{"VXLANLocal/vx0: ip link set dev vx0 type vxlan local <an address of the interface that carries the node's overlay address>"}},
		{name: "VXLAN MTU at its underlay's, unpinned, and over IPv6", edit: func(h *hoststate.State) {
			h.Links[1].Addrs = append(h.Links[1].Addrs, addr("fd00::5/64"))
			h.Links = append(h.Links,
				hoststate.Link{Name: "flannel.1", Index: 9, Type: "vxlan", MTU: 1500},
				hoststate.Link{Name: "vx6", Index: 10, Type: "vxlan", MTU: 1450},
				hoststate.Link{Name: "vxok", Index: 11, Type: "vxlan", MTU: 1450})
			h.Doctor.VXLANs = []hoststate.VXLAN{
				{Name: "flannel.1", Local: netip.MustParseAddr("10.0.0.5")},
				{Name: "vx6", Local: netip.MustParseAddr("fd00::5"), Underlay: 1},
				{Name: "vxok", Local: netip.MustParseAddr("10.0.0.5"), Underlay: 1},
			}
		}, want: []string{"VXLANMTU/flannel.1: ip link set dev flannel.1 mtu 1450", "VXLANMTU/vx6: ip link set dev vx6 mtu 1430"}},
		{name: "bridge MTU below its uplink's", edit: func(h *hoststate.State) { h.Links[3].MTU = 1400 },
			want: []string{"BridgeMTU/harvester-br0: ip link set dev harvester-br0 mtu 1500"}},
		{name: "uplink not enslaved yet", edit: func(h *hoststate.State) { h.Links[3].MTU = 1400; h.Links[2].MasterIndex = 0 }},
		{name: "ip_forward off, IPv6 forwarding off with IPv6 in use", edit: func(h *hoststate.State) {
			h.Doctor.Sysctls[hoststate.SysctlIPForward] = "0"
			h.Doctor.Sysctls[hoststate.SysctlIPv6Forward] = "0"
			h.Links[3].Addrs = append(h.Links[3].Addrs, addr("2001:db8::5/64"), addr("fe80::1/64"))
		}, want: []string{"IPForward/ipv4: sysctl -w net.ipv4.ip_forward=1", "IPForward/ipv6: sysctl -w net.ipv6.conf.all.forwarding=1"}},
		{name: "IPv6 forwarding off without IPv6 addresses", edit: func(h *hoststate.State) {
			h.Doctor.Sysctls[hoststate.SysctlIPv6Forward] = "0"
			h.Links[3].Addrs = append(h.Links[3].Addrs, addr("fe80::1/64"))
		}},
		{name: "ip_forward off without the bridge", edit: func(h *hoststate.State) {
			h.Doctor.Sysctls[hoststate.SysctlIPForward] = "0"
			h.Links = h.Links[:3]
		}},
		{name: "no doctor snapshot yet: only what State has", edit: func(h *hoststate.State) {
			h.Doctor = nil
			h.BridgeNFCallIPTables = ptr(1)
		}, want: []string{"BridgeNFCallIPTables/: sysctl -w net.bridge.bridge-nf-call-iptables=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := node()
			tt.edit(h)
			var got []string
			for _, d := range Run(Input{Host: h, Bridge: br, Uplink: "eth1"}) {
				if d.Message == "" || d.Severity == "" {
					t.Errorf("%s/%s: no message or severity", d.Check, d.Subject)
				}
				got = append(got, d.Check+"/"+d.Subject+": "+d.Fix)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestRunNilHostAndCap(t *testing.T) {
	if d := Run(Input{Bridge: br}); d != nil {
		t.Errorf("nil host: %v", d)
	}
	h := node()
	for i := 0; i < 100; i++ {
		h.Doctor.ForwardChains = append(h.Doctor.ForwardChains, hoststate.ForwardChain{Source: "nft", Family: "inet", Table: "t", Chain: string(rune('a'+i%26)) + strings.Repeat("x", i/26), Drops: true})
	}
	if d := Run(Input{Host: h, Bridge: br}); len(d) != MaxDiagnostics {
		t.Errorf("got %d diagnostics, want the cap %d", len(d), MaxDiagnostics)
	}
}
