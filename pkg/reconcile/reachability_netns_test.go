package reconcile_test

import (
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/harvnet/harvnet/pkg/desired"
)

// TestTheNodeStaysReachableWhileItsNICMoves pings the node's management
// address from the switch every 2 ms while its NIC is enslaved and released
// five times. Measured on an idle machine: enslaving loses nothing;
// releasing loses one reply in about one move of five (the sub-millisecond
// gap between the NIC leaving the bridge and the bridge's routes going).
// Under CI load those gaps stretch, so the test bounds what cutting the
// node off would look like: a run of lost replies, or many of them.
func TestTheNodeStaysReachableWhileItsNICMoves(t *testing.T) {
	f := newFixture(t)
	f.node.AddManagementNIC(t, "eth0")
	f.node.Switch.IP(t, "addr", "add", "10.11.0.1/24", "dev", "sw-eth0")
	f.node.Switch.Exec(t, "ping", "-c1", "-W2", "10.11.0.5") // ARP settled

	const count = 1500
	pinger := exec.Command("ip", "netns", "exec", f.node.Switch.Name, "ping", "-n", "-i", "0.002", "-W", "1", "-c", strconv.Itoa(count), "10.11.0.5")
	out := make(chan string, 1)
	go func() {
		b, _ := pinger.CombinedOutput()
		out <- string(b)
	}()
	const moves = 10
	for i := 0; i < moves/2; i++ {
		f.reconcile(t, vlanSpec("eth0"))
		f.reconcile(t, desired.Input{})
	}
	lost, streak := losses(<-out, count)
	t.Logf("%d of %d replies lost, at most %d in a row", lost, count, streak)
	if streak > 10 || lost > 2*moves {
		t.Errorf("the node was cut off while eth0 moved onto the bridge and back %d times: %d replies lost, %d in a row (allowed: %d, 10 in a row)", moves/2, lost, streak, 2*moves)
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
