// Package vlans is figure 6 of the benchmark report (make bench): all VLAN
// IDs 2-4094 applied to an uplink and removed again, by harvnet's range
// operations and, in the same run, by the containernetworking bridge
// plugin with a vlanTrunk of 2-4094, invoked as a CNI runtime would. It
// needs bridge vlan_filtering, so e2e/bench runs it in the full-kernel VM
// (scripts/vm-test.sh with HARVNET_VM_PKGS=./e2e/bench/vlans); it runs
// only when asked (HARVNET_BENCH_VLANS=1), and then it fails rather than
// skips where it cannot run. The same boot measures figure 2's row for a
// VLAN ID removed from the uplink (drift_test.go), which needs
// vlan_filtering too.
package vlans

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostnet"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// rounds is how many times each side applies and removes the range.
const rounds = 3

func allVLANs() []int {
	var v []int
	for id := 2; id <= 4094; id++ {
		v = append(v, id)
	}
	return v
}

// TestVLANs4094SideBySide prints one "BENCH-FIG6" line per round for
// e2e/bench; it fails when either side does not leave exactly VLANs
// 2-4094 on its port, or does not remove them.
func TestVLANs4094SideBySide(t *testing.T) {
	if os.Getenv("HARVNET_BENCH_VLANS") != "1" {
		t.Skip("a benchmark: make bench runs it in the full-kernel VM (HARVNET_BENCH_VLANS=1)")
	}
	if !netnstest.KernelHasVLANFiltering(t) {
		t.Fatal("this kernel has no bridge vlan_filtering")
	}
	plugin := os.Getenv("HARVNET_CNI_BRIDGE")
	if _, err := os.Stat(plugin); err != nil {
		t.Fatalf("HARVNET_CNI_BRIDGE: the CNI bridge plugin binary: %v", err)
	}
	node, host := nodeWithUplink(t)
	opts := desired.Options{BridgeName: "harvester-br0", UplinkTypes: []string{"veth"}}
	rec, err := reconcile.New(host, opts, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	spec := v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: "eth1"}}
	pass := func(vlans []int) time.Duration {
		start := time.Now()
		res := rec.Reconcile(desired.Input{Spec: spec, VLANs: vlans}, false)
		took := time.Since(start)
		if res.Failed() || res.Err != nil || res.Invalid != nil {
			t.Fatalf("pass with %d VLANs: failed %+v", len(vlans), res)
		}
		return took
	}
	pass(nil) // bridge and uplink first: only the VLANs are timed
	container := netnstest.NewNS(t)
	conf := `{"cniVersion":"1.0.0","name":"bench","type":"bridge","bridge":"cnibr0","vlanTrunk":[{"minID":2,"maxID":4094}]}`
	cni := func(command string) time.Duration {
		cmd := exec.Command("ip", "netns", "exec", node.Name, plugin)
		cmd.Env = append(os.Environ(), "CNI_COMMAND="+command, "CNI_CONTAINERID=bench", "CNI_NETNS="+container.Path(),
			"CNI_IFNAME=eth0", "CNI_PATH="+filepath.Dir(plugin))
		cmd.Stdin = strings.NewReader(conf)
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(start)
		if err != nil {
			t.Fatalf("bridge plugin %s: %v: %s", command, err, out)
		}
		return took
	}
	want := allVLANs()
	for i := 0; i < rounds; i++ {
		hAdd := pass(want)
		if got := tagged(t, node, "eth1"); !slices.Equal(got, want) {
			t.Fatalf("harvnet left %d VLANs on eth1, want 2-4094", len(got))
		}
		hDel := pass(nil)
		if got := tagged(t, node, "eth1"); len(got) != 0 {
			t.Fatalf("harvnet left %d VLANs on eth1 after removing them", len(got))
		}
		cAdd := cni("ADD")
		port := cniPort(t, node)
		if got := tagged(t, node, port); !slices.Equal(got, want) {
			t.Fatalf("the bridge plugin left %d VLANs on %s, want 2-4094", len(got), port)
		}
		cDel := cni("DEL")
		fmt.Printf("BENCH-FIG6 round=%d harvnet_add_ms=%.1f harvnet_del_ms=%.1f cni_add_ms=%.1f cni_del_ms=%.1f\n",
			i, ms(hAdd), ms(hDel), ms(cAdd), ms(cDel))
	}
}

// nodeWithUplink is a netns node with a NIC eth1 and a host on it, closed
// at the end of the test.
func nodeWithUplink(t *testing.T) (*netnstest.Node, *hostnet.Host) {
	t.Helper()
	node := netnstest.NewNode(t)
	node.AddNIC(t, "eth1")
	host, err := hostnet.New(node.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	return node, host
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// tagged lists the VLAN IDs on a bridge port besides VID 1, as the kernel
// reports them (`bridge -j vlan show`).
func tagged(t *testing.T, node *netnstest.Node, dev string) []int {
	t.Helper()
	var out []int
	for _, v := range node.BridgeVLANs(t, dev) {
		if v != 1 {
			out = append(out, v)
		}
	}
	slices.Sort(out)
	return out
}

// cniPort is the host end of the veth the plugin made: cnibr0's one port.
func cniPort(t *testing.T, node *netnstest.Node) string {
	t.Helper()
	for _, l := range node.Links(t) {
		if l.Master == "cnibr0" {
			return l.Name
		}
	}
	t.Fatal("the bridge plugin made no port on cnibr0")
	return ""
}
