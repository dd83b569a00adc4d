package netnstest

import (
	"os"
	"os/exec"
	"testing"
)

// KernelHasVLANFiltering reports whether the running kernel can turn on
// vlan_filtering on a bridge, tried in a scratch namespace. On a full kernel
// (FullKernel) a kernel without it fails the test instead.
func KernelHasVLANFiltering(t testing.TB) bool {
	t.Helper()
	n := NewNS(t)
	n.IP(t, "link", "add", "probe-br", "type", "bridge")
	out, err := n.TryIP("link", "set", "probe-br", "type", "bridge", "vlan_filtering", "1")
	return capability(t, err == nil, "bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)", out)
}

// KernelHasBroute reports whether ebtables-legacy can list the broute table.
// On a full kernel a missing table or tool fails the test instead.
func KernelHasBroute(t testing.TB) bool {
	t.Helper()
	n := NewNS(t)
	out, err := exec.Command("ip", "netns", "exec", n.Name, "ebtables-legacy", "-t", "broute", "-L").CombinedOutput()
	return capability(t, err == nil, "the ebtables broute table (ebtables-legacy, CONFIG_BRIDGE_EBT_BROUTE)", string(out))
}

// HasBrNetfilter reports whether br_netfilter's sysctls exist in ns. On a
// full kernel their absence fails the test instead.
func (n *NS) HasBrNetfilter(t testing.TB) bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", n.Name, "test", "-e", "/proc/sys/net/bridge/bridge-nf-call-iptables").CombinedOutput()
	return capability(t, err == nil, "br_netfilter (net.bridge.bridge-nf-call-iptables)", string(out))
}

// Have reports whether a command is installed.
func Have(cmd string) bool {
	_, err := exec.LookPath(cmd)
	return err == nil
}

// InCI is true under the project's CI, where missing tools are failures, not skips.
func InCI() bool { return os.Getenv("CI") == "true" }
