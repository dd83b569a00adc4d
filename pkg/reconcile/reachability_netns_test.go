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
// five times. Measured here: enslaving loses nothing; releasing loses one
// reply in about one move of five (the sub-millisecond gap between the NIC
// leaving the bridge and the bridge's routes going). An order that moved
// addresses off the bridge before the NIC left it loses about two replies
// per release; the bound is half a reply per move.
func TestTheNodeStaysReachableWhileItsNICMoves(t *testing.T) {
	f := newFixture(t)
	f.node.AddManagementNIC(t, "eth0")
	f.node.Switch.IP(t, "addr", "add", "10.11.0.1/24", "dev", "sw-eth0")
	f.node.Switch.Exec(t, "ping", "-c1", "-W2", "10.11.0.5") // ARP settled

	pinger := exec.Command("ip", "netns", "exec", f.node.Switch.Name, "ping", "-n", "-q", "-i", "0.002", "-W", "1", "-c", "1500", "10.11.0.5")
	out := make(chan string, 1)
	go func() {
		b, _ := pinger.CombinedOutput()
		out <- string(b)
	}()
	for i := 0; i < 5; i++ {
		f.reconcile(t, vlanSpec("eth0"))
		f.reconcile(t, desired.Input{})
	}
	summary := <-out
	m := regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("ping said: %s", summary)
	}
	sent, _ := strconv.Atoi(m[1])
	got, _ := strconv.Atoi(m[2])
	if limit := 5; sent-got > limit {
		t.Errorf("%d of %d pings lost while eth0 moved onto the bridge and back 5 times; at most %d allowed", sent-got, sent, limit)
	}
}
