package netnstest

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// FullKernelEnv is set to 1 where the kernel is known to have every
// capability harvnet uses: the VM of scripts/vm-test.sh, whose /init sets it.
const FullKernelEnv = "HARVNET_FULL_KERNEL"

// FullKernel reports whether the tests run on a full kernel. There a missing
// capability or tool is a regression to report, so the helpers in this
// package fail the test where they would otherwise skip it or let it take
// its "capability missing" branch.
func FullKernel() bool { return os.Getenv(FullKernelEnv) == "1" }

// RequireKernel skips the test when have is false, naming the missing kernel
// capability (e.g. "bonding (CONFIG_BONDING)"), or fails it on a full kernel.
func RequireKernel(t testing.TB, have bool, capability string) {
	t.Helper()
	if have {
		return
	}
	if FullKernel() {
		t.Fatalf("%s=1 but the kernel lacks %s: this run must exercise it, not skip it", FullKernelEnv, capability)
	}
	t.Skipf("this kernel lacks %s; scripts/vm-test.sh runs this test on a stock Debian kernel that has it", capability)
}

// RequireTool skips the test when cmd is not installed, or fails it under
// CI or on a full kernel, where the image is expected to have every tool.
func RequireTool(t testing.TB, cmd string) {
	t.Helper()
	if Have(cmd) {
		return
	}
	if FullKernel() || InCI() {
		t.Fatalf("%s is not installed (full kernel %v, CI %v): the environment must provide it", cmd, FullKernel(), InCI())
	}
	t.Skipf("%s is not installed (scripts/install-tools.sh installs it)", cmd)
}

// KernelHasBonding reports whether the kernel can create a bond, tried in a
// scratch namespace. On a full kernel a bond that cannot be created fails
// the test.
func KernelHasBonding(t testing.TB) bool {
	t.Helper()
	n := NewNS(t)
	out, err := n.TryIP("link", "add", "probe-bond", "type", "bond")
	return capability(t, err == nil, "bonding (CONFIG_BONDING)", out)
}

// capability passes a probe's result through, failing the test when a full
// kernel lacks the capability (the probe's output says why).
func capability(t testing.TB, have bool, what, out string) bool {
	t.Helper()
	if !have && FullKernel() {
		t.Fatalf("%s=1 but the kernel lacks %s: %s", FullKernelEnv, what, strings.TrimSpace(out))
	}
	return have
}

// AddBond adds a bond of the given mode (e.g. "active-backup") to the node,
// enslaves a new NIC (see AddNIC) per slave name, and sets it up with the
// given addresses. The slaves' peers sit in the switch namespace.
func (n *Node) AddBond(t testing.TB, name, mode string, slaves []string, addrs ...string) {
	t.Helper()
	n.IP(t, "link", "add", name, "type", "bond", "mode", mode, "miimon", "100")
	for _, s := range slaves {
		n.AddNIC(t, s)
		n.IP(t, "link", "set", s, "down") // a bond only takes slaves that are down
		n.IP(t, "link", "set", s, "master", name)
	}
	n.IP(t, "link", "set", name, "up")
	for _, a := range addrs {
		args := []string{"addr", "add", a, "dev", name}
		if strings.Contains(a, ":") {
			args = append(args, "nodad")
		}
		n.IP(t, args...)
	}
}

// Sysctl sets a sysctl (dotted name) inside the namespace.
func (n *NS) Sysctl(t testing.TB, name, value string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", n.Name, "sysctl", "-qw", name+"="+value).CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: sysctl %s=%s: %v: %s", n.Name, name, value, err, out)
	}
}

// BridgeVLANs returns the VLAN IDs on a bridge port as `bridge -j vlan show`
// lists them (VID 1, the default PVID, included), sorted.
func (n *NS) BridgeVLANs(t testing.TB, dev string) []int {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", n.Name, "bridge", "-j", "vlan", "show", "dev", dev).CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: bridge -j vlan show dev %s: %v: %s", n.Name, dev, err, out)
	}
	var ports []struct {
		Name  string `json:"ifname"`
		VLANs []struct {
			VID int `json:"vlan"`
			End int `json:"vlanEnd"`
		} `json:"vlans"`
	}
	if err := json.Unmarshal(out, &ports); err != nil {
		t.Fatalf("parsing bridge -j vlan show dev %s: %v: %s", dev, err, out)
	}
	var vids []int
	for _, p := range ports {
		if p.Name != dev {
			continue
		}
		for _, v := range p.VLANs {
			for id := v.VID; id <= max(v.VID, v.End); id++ {
				vids = append(vids, id)
			}
		}
	}
	slices.Sort(vids)
	return vids
}
