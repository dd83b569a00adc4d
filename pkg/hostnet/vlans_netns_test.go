package hostnet

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// On any kernel, VLAN filtering or not: readVLANs reports what iproute2
// does, and falls back to the AF_BRIDGE link dump exactly where the kernel
// refuses RTM_GETVLAN (`bridge -d vlan show` uses it). Without VLAN
// filtering (this test's bridge has it off; the dev machines' kernels
// lack it) the fallback is what Observe reads every pass.
func TestReadVLANsFallback(t *testing.T) {
	n := newBridgeNode(t)
	port := n.port(t, "eth1")
	out, err := exec.Command("ip", "netns", "exec", n.Name, "bridge", "-d", "vlan", "show").CombinedOutput()
	refused := err != nil && strings.Contains(string(out), "Operation not supported")
	if err != nil && !refused {
		t.Fatalf("bridge -d vlan show: %v: %s", err, out)
	}
	sameVLANs(t, "readVLANs(nil) against bridge -j vlan show", n.read(t, nil), n.shown(t))
	want := map[int][]hoststate.VLAN{}
	if v := n.shown(t)[port]; v != nil {
		want[port] = v
	}
	sameVLANs(t, "readVLANs(eth1)", n.read(t, []int{port}), want)
	if got := n.h.vlanDBRefused.Load(); got != refused {
		t.Fatalf("fell back to the link dump: %v; the kernel refuses RTM_GETVLAN (bridge -d vlan show): %v", got, refused)
	}
}
