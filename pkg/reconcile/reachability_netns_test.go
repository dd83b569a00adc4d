package reconcile_test

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/desired"
)

// TestTheNodeStaysReachableWhileItsNICMoves pings the node's management
// addresses from the switch every 2 ms while its NIC is enslaved and
// released five times: IPv4 from the gateway (on-link), and IPv4 and IPv6
// from addresses behind the gateway, whose replies take the default routes
// that move with the NIC (IPv6's are for a moment a two-hop multipath
// route). Measured on an idle machine: enslaving loses nothing; releasing
// loses a reply now and then (the sub-millisecond gap between the NIC
// leaving the bridge and the bridge's routes going); over the ten moves
// 0-2 replies on IPv4, 0-4 on IPv6. Under CI load and emulation those gaps
// stretch, so the test bounds what cutting the node off would look like: a
// run of lost replies, or many of them.
func TestTheNodeStaysReachableWhileItsNICMoves(t *testing.T) {
	f := newFixture(t)
	f.node.AddManagementNIC(t, "eth0")
	sw := f.node.Switch
	sw.IP(t, "addr", "add", "10.11.0.1/24", "dev", "sw-eth0")
	sw.IP(t, "addr", "add", "fd00:11::1/64", "dev", "sw-eth0", "nodad")
	sw.IP(t, "addr", "add", "10.99.0.1/32", "dev", "lo")
	sw.IP(t, "addr", "add", "fd00:99::1/128", "dev", "lo")
	pings := []struct{ name, src, dst string }{
		{"IPv4 from the gateway", "10.11.0.1", "10.11.0.5"},
		{"IPv4 through the default route", "10.99.0.1", "10.11.0.5"},
		{"IPv6 through the default route", "fd00:99::1", "fd00:11::5"},
	}
	for _, p := range pings {
		// Neighbours resolved and the switch's own IPv6 ready.
		nt.Eventually(t, 10*time.Second, nt.Check(p.name+": no first reply", func() bool {
			return exec.Command("ip", "netns", "exec", sw.Name, "ping", "-c1", "-W1", "-I", p.src, p.dst).Run() == nil
		}))
	}

	const count = 1500
	outs := make([]chan string, len(pings))
	for i, p := range pings {
		outs[i] = make(chan string, 1)
		go func() {
			b, _ := exec.Command("ip", "netns", "exec", sw.Name, "ping", "-n", "-i", "0.002", "-W", "1", "-c", strconv.Itoa(count), "-I", p.src, p.dst).CombinedOutput()
			outs[i] <- string(b)
		}()
	}
	const moves = 10
	for i := 0; i < moves/2; i++ {
		f.reconcile(t, vlanSpec("eth0"))
		f.reconcile(t, desired.Input{})
	}
	for i, p := range pings {
		lost, streak := losses(<-outs[i], count)
		t.Logf("%s: %d of %d replies lost, at most %d in a row", p.name, lost, count, streak)
		if streak > 10 || lost > 2*moves {
			t.Errorf("%s: the node was cut off while eth0 moved onto the bridge and back %d times: %d replies lost, %d in a row (allowed: %d, 10 in a row)", p.name, moves/2, lost, streak, 2*moves)
		}
	}
}

// losses reads ping's per-reply lines and returns how many of count
// sequence numbers got no reply, and the longest run of them.
func losses(pingOutput string, count int) (lost, streak int) {
	got := map[int]bool{}
	for _, m := range regexp.MustCompile(`icmp_seq=(\d+)`).FindAllStringSubmatch(pingOutput, -1) {
		n, _ := strconv.Atoi(m[1])
		got[n] = true
	}
	run := 0
	for seq := 1; seq <= count; seq++ {
		if got[seq] {
			run = 0
			continue
		}
		lost++
		run++
		streak = max(streak, run)
	}
	return lost, streak
}
