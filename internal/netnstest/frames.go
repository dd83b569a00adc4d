package netnstest

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"
)

// DHCP message types (RFC 2132 option 53).
const (
	DHCPDiscover = 1
	DHCPOffer    = 2
	DHCPAck      = 5
)

// DHCPServerFrame returns an Ethernet frame with a DHCP reply (BOOTREPLY of
// msgType, e.g. DHCPOffer) as a DHCP server sends it: from srcMAC and srcIP,
// UDP 67 -> 68, to the client's MAC and the IPv4 broadcast address, offering
// yiaddr. xid identifies the exchange.
func DHCPServerFrame(srcMAC, clientMAC net.HardwareAddr, srcIP, yiaddr net.IP, xid uint32, msgType byte) []byte {
	msg := make([]byte, 240, 300)
	msg[0], msg[1], msg[2] = 2, 1, 6 // BOOTREPLY, Ethernet, 6-byte MACs
	binary.BigEndian.PutUint32(msg[4:], xid)
	copy(msg[16:20], yiaddr.To4())
	copy(msg[20:24], srcIP.To4())
	copy(msg[28:44], clientMAC)
	copy(msg[236:240], []byte{99, 130, 83, 99}) // magic cookie
	msg = append(msg, 53, 1, msgType)
	msg = append(msg, 54, 4)
	msg = append(msg, srcIP.To4()...)
	msg = append(msg, 51, 4, 0, 0, 0x0e, 0x10) // lease: one hour
	msg = append(msg, 1, 4, 255, 255, 255, 0)
	msg = append(msg, 255)
	return UDPFrame(srcMAC, clientMAC, srcIP, net.IPv4bcast, 67, 68, msg)
}

// UDPFrame returns an Ethernet frame carrying an IPv4 UDP datagram (no UDP
// checksum, which IPv4 allows).
func UDPFrame(srcMAC, dstMAC net.HardwareAddr, src, dst net.IP, sport, dport uint16, payload []byte) []byte {
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:6], dstMAC)
	copy(f[6:12], srcMAC)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	ip := f[14:34]
	ip[0] = 0x45 // IPv4, 20-byte header
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[8], ip[9] = 64, unix.IPPROTO_UDP
	copy(ip[12:16], src.To4())
	copy(ip[16:20], dst.To4())
	binary.BigEndian.PutUint16(ip[10:], ipChecksum(ip))
	udp := f[34:42]
	binary.BigEndian.PutUint16(udp[0:], sport)
	binary.BigEndian.PutUint16(udp[2:], dport)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	copy(f[42:], payload)
	return f
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// SendFrame writes a raw Ethernet frame out of dev inside the namespace, as
// if a host on dev's network had sent it.
func (n *NS) SendFrame(t testing.TB, dev string, frame []byte) {
	t.Helper()
	err := n.Do(func(ns.NetNS) error {
		ifi, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("packet socket: %w", err)
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Protocol: htons(unix.ETH_P_ALL), Halen: 6}
		copy(sa.Addr[:], frame[0:6])
		return unix.Sendto(fd, frame, 0, sa)
	})
	if err != nil {
		t.Fatalf("in %s: sending a frame out of %s: %v", n.Name, dev, err)
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ListenUDP opens a UDP socket on port inside the namespace, bound to dev
// (SO_BINDTODEVICE) the way a DHCP client binds to its NIC, so it receives
// only what the kernel delivers on dev. It is closed when the test ends.
func (n *NS) ListenUDP(t testing.TB, dev string, port int) *net.UDPConn {
	t.Helper()
	var conn net.PacketConn
	err := n.Do(func(ns.NetNS) error {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, dev)
			}); err != nil {
				return err
			}
			return serr
		}}
		var err error
		conn, err = lc.ListenPacket(context.Background(), "udp4", ":"+strconv.Itoa(port))
		return err
	})
	if err != nil {
		t.Fatalf("in %s: listening on %s udp/%d: %v", n.Name, dev, port, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn.(*net.UDPConn)
}

// EbtRule is one rule of an ebtables chain with its counters.
type EbtRule struct {
	Rule           string // as listed with --Lmac2, e.g. "-p IPv4 -d 2a:..:01 -i eth1 ... -j DROP"
	Packets, Bytes uint64
}

var ebtCounters = regexp.MustCompile(`^(.*\S) , pcnt = (\d+) -- bcnt = (\d+)$`)

// EbtablesRules lists a chain of an ebtables-legacy table inside the
// namespace with each rule's packet and byte counters.
func (n *NS) EbtablesRules(t testing.TB, table, chain string) []EbtRule {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", n.Name, "ebtables-legacy", "-t", table, "-L", chain, "--Lc", "--Lmac2").CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: ebtables-legacy -t %s -L %s --Lc: %v: %s", n.Name, table, chain, err, out)
	}
	var rules []EbtRule
	for _, l := range strings.Split(string(out), "\n") {
		m := ebtCounters.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		p, _ := strconv.ParseUint(m[2], 10, 64)
		b, _ := strconv.ParseUint(m[3], 10, 64)
		rules = append(rules, EbtRule{Rule: m[1], Packets: p, Bytes: b})
	}
	return rules
}
