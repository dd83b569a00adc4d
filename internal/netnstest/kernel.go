package netnstest

import (
	"os"
	"os/exec"
	"testing"
)

// KernelHasVLANFiltering reports whether the running kernel can turn on
// vlan_filtering on a bridge, tried in a scratch namespace.
func KernelHasVLANFiltering(t testing.TB) bool {
	t.Helper()
	n := NewNS(t)
	n.IP(t, "link", "add", "probe-br", "type", "bridge")
	_, err := n.TryIP("link", "set", "probe-br", "type", "bridge", "vlan_filtering", "1")
	return err == nil
}

// KernelHasBroute reports whether ebtables-legacy can list the broute table.
func KernelHasBroute(t testing.TB) bool {
	t.Helper()
	n := NewNS(t)
	_, err := exec.Command("ip", "netns", "exec", n.Name, "ebtables-legacy", "-t", "broute", "-L").CombinedOutput()
	return err == nil
}

// HasBrNetfilter reports whether br_netfilter's sysctls exist in ns.
func (n *NS) HasBrNetfilter(t testing.TB) bool {
	t.Helper()
	_, err := exec.Command("ip", "netns", "exec", n.Name, "test", "-e", "/proc/sys/net/bridge/bridge-nf-call-iptables").CombinedOutput()
	return err == nil
}

// Have reports whether a command is installed.
func Have(cmd string) bool {
	_, err := exec.LookPath(cmd)
	return err == nil
}

// InCI is true under the project's CI, where missing tools are failures, not skips.
func InCI() bool { return os.Getenv("CI") == "true" }
