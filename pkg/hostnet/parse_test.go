package hostnet

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// Parsers of tool output, fed what the tools really printed: captured on
// Debian 12 (iptables v1.8.9, ebtables v1.8.9, kernel 6.1) in a throwaway
// network namespace. No root needed to run them.

// `iptables-nft -t filter -S FORWARD` after:
//
//	iptables-nft -P FORWARD DROP
//	iptables-nft -A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
//	iptables-nft -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
//	iptables-nft -A FORWARD -o docker0 -m comment --comment "docker bridge" -j ACCEPT
//	iptables-nft -A FORWARD -i harvester-br0 -j ACCEPT
//	iptables-nft -I FORWARD 1 -o harvester-br0 -j ACCEPT   (as addForwardAccept)
//	iptables-nft -I FORWARD 1 -i harvester-br0 -j ACCEPT
//	iptables-nft -A FORWARD -i eth9 -j DROP
//	iptables-nft -A FORWARD -s 10.0.0.0/8 -o harvester-br0 -j ACCEPT
const forwardNFT = `-P FORWARD DROP
-A FORWARD -i harvester-br0 -j ACCEPT
-A FORWARD -o harvester-br0 -j ACCEPT
-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -o docker0 -m comment --comment "docker bridge" -j ACCEPT
-A FORWARD -i harvester-br0 -j ACCEPT
-A FORWARD -i eth9 -j DROP
-A FORWARD -s 10.0.0.0/8 -o harvester-br0 -j ACCEPT
`

// `iptables-legacy -t filter -S FORWARD` after:
//
//	iptables-legacy -P FORWARD DROP
//	iptables-legacy -N KUBE-FORWARD
//	iptables-legacy -A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
//	iptables-legacy -I FORWARD 1 -o harvester-br0 -j ACCEPT
//	iptables-legacy -I FORWARD 1 -i harvester-br0 -j ACCEPT
//	iptables-legacy -A FORWARD -i harvester-br0 -o harvester-br0 -j ACCEPT
const forwardLegacy = `-P FORWARD DROP
-A FORWARD -i harvester-br0 -j ACCEPT
-A FORWARD -o harvester-br0 -j ACCEPT
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -i harvester-br0 -o harvester-br0 -j ACCEPT
`

// The same after `iptables-legacy -P FORWARD ACCEPT; iptables-legacy -F FORWARD`.
const forwardLegacyEmpty = "-P FORWARD ACCEPT\n"

// splitList splits output as go-iptables' List does: by line, less the
// empty string after the last newline.
func splitList(out string) []string {
	return strings.Split(strings.TrimSuffix(out, "\n"), "\n")
}

func TestParseForward(t *testing.T) {
	for _, c := range []struct {
		name string
		out  string
		want hoststate.Forward
	}{
		// Only rules exactly like harvnet's count: matching on more (a
		// source, the other direction, a negation, a comment) accepts less.
		// A rule listed twice is listed twice.
		{"nf_tables with harvnet's rules among others", forwardNFT, hoststate.Forward{
			Policy: "DROP", AcceptIn: []string{"harvester-br0", "harvester-br0"}, AcceptOut: []string{"harvester-br0"},
		}},
		{"legacy with harvnet's rules and kube-proxy's jump", forwardLegacy, hoststate.Forward{
			Policy: "DROP", AcceptIn: []string{"harvester-br0"}, AcceptOut: []string{"harvester-br0"},
		}},
		{"an empty chain", forwardLegacyEmpty, hoststate.Forward{Policy: "ACCEPT"}},
		{"no output", "", hoststate.Forward{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := parseForward(splitList(c.out)); !reflect.DeepEqual(got, c.want) {
				t.Errorf("parseForward =\n  %+v\nwant\n  %+v", got, c.want)
			}
		})
	}
}

// `ebtables-nft -t filter -L INPUT --Lmac2` after adding, for eth1, the
// rules ruleArgs makes (the filter table's INPUT chain in place of broute's
// BROUTING, which neither ebtables has on this kernel) and near misses:
//
//	-p ipv4 --ip-proto udp --ip-destination-port 67:68 -i eth1 -s 02:0a:0b:0c:0d:0e -j DROP
//	-p ipv4 --ip-proto udp --ip-destination-port 67:68 -i eth1 -d 02:0a:0b:0c:0d:0e -j DROP
//	-p ipv4 --ip-proto udp --ip-destination-port 67:68 -i eth1 -s 52:54:00:00:0A:05 -j DROP
//	-p ipv4 --ip-proto tcp --ip-destination-port 67:68 -i eth1 -s 02:0a:0b:0c:0d:0e -j DROP
//	-p ipv4 --ip-proto udp --ip-destination-port 67 -i eth1 -s 02:0a:0b:0c:0d:0e -j DROP
//	-p ipv4 --ip-proto udp --ip-destination-port 67:68 -i eth1 -s 02:0a:0b:0c:0d:0e -j ACCEPT
//	-p ipv4 --ip-proto udp --ip-destination-port 67:68 -i eth1 -s 02:0a:0b:0c:0d:0e -d 02:0a:0b:0c:0d:0f -j DROP
//	-p ipv4 --ip-proto udp --ip-destination-port 67:68 -s 02:0a:0b:0c:0d:0e -j DROP
//	-p ipv6 -i eth1 -j DROP
//	-p ipv4 --ip-proto 17 --ip-destination-port 67:68 -i eth1 -s 02:0a:0b:0c:0d:0e -j DROP
const ebtablesFilterNFT = `Bridge table: filter

Bridge chain: INPUT, entries: 10, policy: ACCEPT
-p IPv4 -s 02:0a:0b:0c:0d:0e -i eth1 --ip-proto udp --ip-dport 67:68 -j DROP
-p IPv4 -d 02:0a:0b:0c:0d:0e -i eth1 --ip-proto udp --ip-dport 67:68 -j DROP
-p IPv4 -s 52:54:00:00:0a:05 -i eth1 --ip-proto udp --ip-dport 67:68 -j DROP
-p IPv4 -s 02:0a:0b:0c:0d:0e -i eth1 --ip-proto tcp --ip-dport 67:68 -j DROP
-p IPv4 -s 02:0a:0b:0c:0d:0e -i eth1 --ip-proto udp --ip-dport 67 -j DROP
-p IPv4 -s 02:0a:0b:0c:0d:0e -i eth1 --ip-proto udp --ip-dport 67:68 -j ACCEPT
-p IPv4 -s 02:0a:0b:0c:0d:0e -d 02:0a:0b:0c:0d:0f -i eth1 --ip-proto udp --ip-dport 67:68 -j DROP
-p IPv4 -s 02:0a:0b:0c:0d:0e --ip-proto udp --ip-dport 67:68 -j DROP
-p IPv6 -i eth1 -j DROP
-p IPv4 -s 02:0a:0b:0c:0d:0e -i eth1 --ip-proto udp --ip-dport 67:68 -j DROP
`

// ebtables-legacy's broute listing, which only a full kernel has (the VM
// tier reads it in pkg/reconcile/dhcp_fullkernel_test.go and
// pkg/hostloop/drift_fullkernel_test.go): not captured here but written
// from that format, the rule lines the same as ebtables-nft's above.
const ebtablesBrouteLegacy = `Bridge table: broute

Bridge chain: BROUTING, entries: 2, policy: ACCEPT
-p IPv4 -s 52:54:00:12:34:56 -i eth0 --ip-proto udp --ip-dport 67:68 -j DROP
-p IPv4 -d 52:54:00:12:34:56 -i eth0 --ip-proto udp --ip-dport 67:68 -j DROP
`

func parseDHCPRules(out string) []hoststate.DHCPRule {
	var rules []hoststate.DHCPRule
	for _, line := range strings.Split(out, "\n") {
		if r, ok := parseDHCPRule(line); ok {
			rules = append(rules, r)
		}
	}
	return rules
}

func TestParseDHCPRule(t *testing.T) {
	src := func(nic, mac string) hoststate.DHCPRule {
		return hoststate.DHCPRule{NIC: nic, MAC: mac, Dir: hoststate.DirSrc}
	}
	dst := func(nic, mac string) hoststate.DHCPRule {
		return hoststate.DHCPRule{NIC: nic, MAC: mac, Dir: hoststate.DirDst}
	}
	for _, c := range []struct {
		name string
		out  string
		want []hoststate.DHCPRule
	}{
		// Only DHCP (udp 67:68) to DROP, from or to one MAC, on a NIC:
		// TCP, one port, ACCEPT, both MACs, no NIC and IPv6 are not
		// harvnet's. The protocol number reads back as udp.
		{"ebtables-nft listing of ruleArgs' rules and near misses", ebtablesFilterNFT, []hoststate.DHCPRule{
			src("eth1", "02:0a:0b:0c:0d:0e"), dst("eth1", "02:0a:0b:0c:0d:0e"), src("eth1", "52:54:00:00:0a:05"), src("eth1", "02:0a:0b:0c:0d:0e"),
		}},
		{"ebtables-legacy broute listing", ebtablesBrouteLegacy, []hoststate.DHCPRule{
			src("eth0", "52:54:00:12:34:56"), dst("eth0", "52:54:00:12:34:56"),
		}},
		// Without --Lmac2 ebtables-legacy drops leading zeros ("52:54:0:12:34:56"),
		// which is no MAC to compare: list asks for --Lmac2.
		{"a MAC without leading zeros", "-p IPv4 -s 52:54:0:12:34:56 -i eth0 --ip-proto udp --ip-dport 67:68 -j DROP", nil},
		{"a MAC in upper case reads as Go writes it", "-p IPv4 -s 52:54:00:AB:CD:EF -i eth0 --ip-proto udp --ip-dport 67:68 -j DROP",
			[]hoststate.DHCPRule{src("eth0", "52:54:00:ab:cd:ef")}},
		{"no rules", "Bridge table: broute\n\nBridge chain: BROUTING, entries: 0, policy: ACCEPT\n", nil},
		{"a truncated line", "-p IPv4 -s", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := parseDHCPRules(c.out); !reflect.DeepEqual(got, c.want) {
				t.Errorf("parsed\n  %+v\nwant\n  %+v", got, c.want)
			}
		})
	}
}

// Every rule harvnet adds reads back as itself: ruleArgs' arguments, as
// ebtables prints them (the listing above), parse to the rule.
func TestDHCPRuleRoundTrip(t *testing.T) {
	for _, r := range []hoststate.DHCPRule{
		{NIC: "eth1", MAC: "02:0a:0b:0c:0d:0e", Dir: hoststate.DirSrc},
		{NIC: "eth1", MAC: "02:0a:0b:0c:0d:0e", Dir: hoststate.DirDst},
	} {
		args := strings.Join(ruleArgs(r), " ")
		side := map[string]string{hoststate.DirSrc: "-s", hoststate.DirDst: "-d"}[r.Dir]
		want := "BROUTING -p ipv4 --ip-proto udp --ip-destination-port 67:68 -i eth1 " + side + " 02:0a:0b:0c:0d:0e -j DROP"
		if args != want {
			t.Fatalf("ruleArgs(%+v) = %q, want %q (the arguments the listing was captured with)", r, args, want)
		}
		printed := "-p IPv4 " + side + " 02:0a:0b:0c:0d:0e -i eth1 --ip-proto udp --ip-dport 67:68 -j DROP"
		if !strings.Contains(ebtablesFilterNFT, printed+"\n") {
			t.Fatalf("the capture has no line %q", printed)
		}
		if got, ok := parseDHCPRule(printed); !ok || got != r {
			t.Errorf("parseDHCPRule(%q) = %+v, %v, want %+v", printed, got, ok, r)
		}
	}
}

// Netlink's answers, as `netlink.AddrList` and `RouteListFiltered(...,
// RT_FILTER_TABLE)` returned them in a namespace set up with:
//
//	ip link add eth0 type veth peer name sw0    (index 3; sw0 is 2)
//	ip link add eth1 type veth peer name sw1    (index 5; sw1 is 4)
//	ip link add harvester-br0 type bridge       (index 6)
//	ip addr add 10.11.0.5/24 dev eth0
//	ip addr add fd00:11::5/64 dev eth0 nodad
//	ip addr add 10.12.0.5/24 dev eth1 valid_lft 100 preferred_lft 50
//	ip route add default via 10.11.0.1 dev eth0 proto static
//	ip -6 route add default via fd00:11::1 dev eth0 proto static metric 1024
//	ip addr add fd00:11::5/64 dev harvester-br0 nodad
//	ip -6 route append default via fd00:11::1 dev harvester-br0 proto static metric 1024
//	ip route add 10.50.0.0/16 proto static nexthop via 10.11.0.1 dev eth0 nexthop via 10.12.0.1 dev eth1
//	ip route add blackhole 10.60.0.0/16
//	ip route add 10.70.0.0/16 via 10.11.0.1 dev eth0 src 10.11.0.5 metric 50 table 100
//
// Byte lengths are as captured: IPv4 addresses come as 4 bytes, except the
// default route's destination, which comes as 16 (::ffff:0.0.0.0) with a
// 4-byte mask.

func ipv4(a, b, c, d byte) net.IP { return net.IP{a, b, c, d} }

func ipv6(s string) net.IP { return net.ParseIP(s) }

func TestToAddr(t *testing.T) {
	forever := uint32(infiniteLft)
	for _, c := range []struct {
		in   netlink.Addr
		want hoststate.Addr
	}{
		{netlink.Addr{LinkIndex: 3, IPNet: &net.IPNet{IP: ipv4(10, 11, 0, 5), Mask: net.CIDRMask(24, 32)}, Scope: 0, Flags: 128, ValidLft: int(forever), PreferedLft: int(forever)},
			hoststate.Addr{Prefix: netip.MustParsePrefix("10.11.0.5/24")}},
		// A lifetime that is not forever is kept, to be moved with it.
		{netlink.Addr{LinkIndex: 5, IPNet: &net.IPNet{IP: ipv4(10, 12, 0, 5), Mask: net.CIDRMask(24, 32)}, Scope: 0, Flags: 0, ValidLft: 100, PreferedLft: 50},
			hoststate.Addr{Prefix: netip.MustParsePrefix("10.12.0.5/24"), ValidLft: 100, PreferredLft: 50}},
		{netlink.Addr{LinkIndex: 3, IPNet: &net.IPNet{IP: ipv6("fd00:11::5"), Mask: net.CIDRMask(64, 128)}, Scope: 0, Flags: 130, ValidLft: int(forever), PreferedLft: int(forever)},
			hoststate.Addr{Prefix: netip.MustParsePrefix("fd00:11::5/64")}},
		{netlink.Addr{LinkIndex: 3, IPNet: &net.IPNet{IP: ipv6("fe80::a868:cfff:fe4e:6c03"), Mask: net.CIDRMask(64, 128)}, Scope: 253, Flags: 192, ValidLft: int(forever), PreferedLft: int(forever)},
			hoststate.Addr{Prefix: netip.MustParsePrefix("fe80::a868:cfff:fe4e:6c03/64"), Scope: 253}},
		{netlink.Addr{LinkIndex: 1, IPNet: &net.IPNet{IP: ipv4(127, 0, 0, 1), Mask: net.CIDRMask(8, 32)}, Scope: 254, Flags: 128, ValidLft: int(forever), PreferedLft: int(forever)},
			hoststate.Addr{Prefix: netip.MustParsePrefix("127.0.0.1/8"), Scope: 254}},
		{netlink.Addr{LinkIndex: 1, IPNet: &net.IPNet{IP: ipv6("::1"), Mask: net.CIDRMask(128, 128)}, Scope: 254, Flags: 128, ValidLft: int(forever), PreferedLft: int(forever)},
			hoststate.Addr{Prefix: netip.MustParsePrefix("::1/128"), Scope: 254}},
	} {
		if got := toAddr(c.in); got != c.want {
			t.Errorf("toAddr(%s) = %+v, want %+v", c.in.IPNet, got, c.want)
		}
	}
}

func TestToRoutes(t *testing.T) {
	const (
		v4, v6                    = 2, 10    // AF_INET, AF_INET6
		unicast, local, broadcast = 1, 2, 3  // RTN_*
		multicast, blackhole      = 5, 6     // RTN_*
		kernel, boot, static      = 2, 3, 4  // RTPROT_*
		mainTable, localTable     = 254, 255 // RT_TABLE_*
		linkScope                 = 253      // RT_SCOPE_LINK
		eth0, eth1, bridge        = 3, 5, 6
		lo                        = 1
	)
	pfx := netip.MustParsePrefix
	addr := netip.MustParseAddr
	for _, c := range []struct {
		name string
		in   netlink.Route
		want []hoststate.Route
	}{
		{"IPv4 default: 16-byte 0.0.0.0 with a 4-byte /0 mask is the zero prefix",
			netlink.Route{LinkIndex: eth0, Dst: &net.IPNet{IP: net.IP{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0}, Mask: net.CIDRMask(0, 32)}, Gw: ipv4(10, 11, 0, 1), Protocol: static, Table: mainTable, Family: v4, Type: unicast},
			[]hoststate.Route{{LinkIndex: eth0, Gw: addr("10.11.0.1"), Protocol: static, Table: mainTable, Family: v4}}},
		{"prefix route of an address",
			netlink.Route{LinkIndex: eth0, Dst: &net.IPNet{IP: ipv4(10, 11, 0, 0), Mask: net.CIDRMask(24, 32)}, Src: ipv4(10, 11, 0, 5), Protocol: kernel, Scope: linkScope, Table: mainTable, Family: v4, Type: unicast},
			[]hoststate.Route{{LinkIndex: eth0, Dst: pfx("10.11.0.0/24"), Src: addr("10.11.0.5"), Protocol: kernel, Scope: linkScope, Table: mainTable, Family: v4}}},
		{"another table, source and metric",
			netlink.Route{LinkIndex: eth0, Dst: &net.IPNet{IP: ipv4(10, 70, 0, 0), Mask: net.CIDRMask(16, 32)}, Gw: ipv4(10, 11, 0, 1), Src: ipv4(10, 11, 0, 5), Protocol: boot, Table: 100, Priority: 50, Family: v4, Type: unicast},
			[]hoststate.Route{{LinkIndex: eth0, Dst: pfx("10.70.0.0/16"), Gw: addr("10.11.0.1"), Src: addr("10.11.0.5"), Protocol: boot, Table: 100, Priority: 50, Family: v4}}},
		{"IPv4 multipath: one route per next hop",
			netlink.Route{Dst: &net.IPNet{IP: ipv4(10, 50, 0, 0), Mask: net.CIDRMask(16, 32)}, Protocol: static, Table: mainTable, Family: v4, Type: unicast,
				MultiPath: []*netlink.NexthopInfo{{LinkIndex: eth0, Gw: ipv4(10, 11, 0, 1)}, {LinkIndex: eth1, Gw: ipv4(10, 12, 0, 1)}}},
			[]hoststate.Route{
				{LinkIndex: eth0, Dst: pfx("10.50.0.0/16"), Gw: addr("10.11.0.1"), Protocol: static, Table: mainTable, Family: v4},
				{LinkIndex: eth1, Dst: pfx("10.50.0.0/16"), Gw: addr("10.12.0.1"), Protocol: static, Table: mainTable, Family: v4},
			}},
		{"IPv6 default appended on the bridge, joined by the kernel: each hop is one device's route",
			netlink.Route{Dst: &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}, Protocol: static, Table: mainTable, Priority: 1024, Family: v6, Type: unicast,
				MultiPath: []*netlink.NexthopInfo{{LinkIndex: eth0, Gw: ipv6("fd00:11::1")}, {LinkIndex: bridge, Gw: ipv6("fd00:11::1")}}},
			[]hoststate.Route{
				{LinkIndex: eth0, Gw: addr("fd00:11::1"), Protocol: static, Table: mainTable, Priority: 1024, Family: v6},
				{LinkIndex: bridge, Gw: addr("fd00:11::1"), Protocol: static, Table: mainTable, Priority: 1024, Family: v6},
			}},
		{"IPv6 prefix route",
			netlink.Route{LinkIndex: bridge, Dst: &net.IPNet{IP: ipv6("fd00:11::"), Mask: net.CIDRMask(64, 128)}, Protocol: kernel, Table: mainTable, Priority: 256, Family: v6, Type: unicast},
			[]hoststate.Route{{LinkIndex: bridge, Dst: pfx("fd00:11::/64"), Protocol: kernel, Table: mainTable, Priority: 256, Family: v6}}},
		{"blackhole: no device, not the node's to move",
			netlink.Route{Dst: &net.IPNet{IP: ipv4(10, 60, 0, 0), Mask: net.CIDRMask(16, 32)}, Protocol: boot, Table: mainTable, Family: v4, Type: blackhole}, nil},
		{"local",
			netlink.Route{LinkIndex: eth0, Dst: &net.IPNet{IP: ipv4(10, 11, 0, 5), Mask: net.CIDRMask(32, 32)}, Src: ipv4(10, 11, 0, 5), Protocol: kernel, Scope: 254, Table: localTable, Family: v4, Type: local}, nil},
		{"broadcast",
			netlink.Route{LinkIndex: eth0, Dst: &net.IPNet{IP: ipv4(10, 11, 0, 255), Mask: net.CIDRMask(32, 32)}, Src: ipv4(10, 11, 0, 5), Protocol: kernel, Scope: linkScope, Table: localTable, Family: v4, Type: broadcast}, nil},
		{"IPv6 local",
			netlink.Route{LinkIndex: lo, Dst: &net.IPNet{IP: ipv6("::1"), Mask: net.CIDRMask(128, 128)}, Protocol: kernel, Table: localTable, Family: v6, Type: local}, nil},
		{"IPv6 multicast",
			netlink.Route{LinkIndex: eth0, Dst: &net.IPNet{IP: ipv6("ff00::"), Mask: net.CIDRMask(8, 128)}, Protocol: kernel, Table: localTable, Priority: 256, Family: v6, Type: multicast}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := toRoutes(c.in); !reflect.DeepEqual(got, c.want) {
				t.Errorf("toRoutes =\n  %+v\nwant\n  %+v", got, c.want)
			}
		})
	}
}
