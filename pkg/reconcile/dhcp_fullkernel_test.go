package reconcile_test

import (
	"bytes"
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"

	nt "github.com/harvnet/harvnet/internal/netnstest"
)

// TestDHCPToTheNICIsBroutedToTheNIC sends a real DHCP reply from the uplink's
// network to the NIC's MAC after the NIC became the bridge's uplink, and
// checks that the broute rule counted it and that the kernel handed it to a
// DHCP client socket bound to the NIC instead of bridging it. Kernels
// without the broute table skip it; on a full kernel (scripts/vm-test.sh) it
// must run.
func TestDHCPToTheNICIsBroutedToTheNIC(t *testing.T) {
	nt.RequireTool(t, "ebtables-legacy")
	nt.RequireKernel(t, nt.KernelHasBroute(t), "the ebtables broute table (CONFIG_BRIDGE_EBT_BROUTE)")
	f := newFixture(t)
	f.node.AddNIC(t, "eth1", "10.22.0.5/24")
	f.reconcile(t, vlanSpec("eth1"))
	nic := f.link(t, "eth1")
	if nic.Master != br {
		t.Fatalf("eth1 master %q, want %s", nic.Master, br)
	}
	// The server's address is not on the NIC's own subnet as far as the
	// NIC is concerned (its address moved to the bridge): no reverse-path
	// filter may drop the reply.
	for _, dev := range []string{"all", "default", "eth1"} {
		f.node.Sysctl(t, "net.ipv4.conf."+dev+".rp_filter", "0")
	}
	nicMAC, _ := net.ParseMAC(nic.Address)
	server, ok := f.node.Switch.Link(t, "sw-eth1")
	if !ok {
		t.Fatal("switch port sw-eth1 is gone")
	}
	serverMAC, _ := net.ParseMAC(server.Address)

	counter := func(side string) nt.EbtRule {
		t.Helper()
		want := side + " " + nic.Address + " -i eth1 --ip-proto udp --ip-dport 67:68 -j DROP"
		for _, r := range f.node.EbtablesRules(t, "broute", "BROUTING") {
			if strings.Contains(r.Rule, want) {
				return r
			}
		}
		t.Fatalf("no broute rule %q in BROUTING", want)
		return nt.EbtRule{}
	}
	src0, dst0 := counter("-s"), counter("-d")

	// The node's DHCP client listens on the NIC, as dhclient eth1 would.
	client := f.node.ListenUDP(t, "eth1", 68)
	// offer sends a DHCP offer from the switch to the NIC's MAC and reports
	// whether the client on eth1 got it within wait.
	offer := func(xid uint32, wait time.Duration) bool {
		t.Helper()
		frame := nt.DHCPServerFrame(serverMAC, nicMAC, net.IPv4(10, 22, 0, 1), net.IPv4(10, 22, 0, 5), xid, nt.DHCPOffer)
		f.node.Switch.SendFrame(t, "sw-eth1", frame)
		buf := make([]byte, 1500)
		_ = client.SetReadDeadline(time.Now().Add(wait))
		for {
			n, _, err := client.ReadFromUDP(buf)
			if err != nil {
				return false
			}
			if n >= 240 && binary.BigEndian.Uint32(buf[4:8]) == xid && bytes.Equal(buf[28:34], nicMAC) {
				return true
			}
		}
	}

	if !offer(0x4a7e3f01, 5*time.Second) {
		t.Fatal("the DHCP client bound to eth1 did not get the offer: it was bridged instead of brouted to the NIC")
	}
	dst1 := counter("-d")
	if dst1.Packets != dst0.Packets+1 {
		t.Errorf("broute rule %q counted %d packets, want %d", dst1.Rule, dst1.Packets, dst0.Packets+1)
	}
	if src1 := counter("-s"); src1.Packets != src0.Packets {
		t.Errorf("broute rule %q counted %d packets for a frame not from the NIC's MAC", src1.Rule, src1.Packets-src0.Packets)
	}
	t.Logf("proved: a DHCP offer to %s on eth1 was brouted to the NIC: rule %q pcnt %d -> %d, and the client socket on eth1 got it",
		nic.Address, dst1.Rule, dst0.Packets, dst1.Packets)

	// The rules are what gets it there: without them the bridge takes the
	// offer (it has the NIC's MAC) and the client on eth1 never sees it.
	f.node.Exec(t, "ebtables-legacy", "-t", "broute", "-F", "BROUTING")
	if offer(0x4a7e3f02, time.Second) {
		t.Error("the client on eth1 got an offer with no broute rules: the test does not show what the rules do")
	}
	// And a pass puts them back.
	f.reconcile(t, vlanSpec("eth1"))
	if !offer(0x4a7e3f03, 5*time.Second) {
		t.Error("the client on eth1 did not get an offer after the broute rules were restored")
	}
	dst1 = counter("-d")

	// Not DHCP: the same frame to UDP port 53 is bridged, not counted.
	dns := nt.UDPFrame(serverMAC, nicMAC, net.IPv4(10, 22, 0, 1), net.IPv4bcast, 67, 53, []byte("not dhcp"))
	f.node.Switch.SendFrame(t, "sw-eth1", dns)
	time.Sleep(100 * time.Millisecond)
	if dst2 := counter("-d"); dst2.Packets != dst1.Packets {
		t.Errorf("broute rule %q counted a UDP/53 frame (pcnt %d -> %d)", dst2.Rule, dst1.Packets, dst2.Packets)
	}
}
