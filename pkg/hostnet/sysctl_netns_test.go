package hostnet

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	nt "github.com/harvnet/harvnet/internal/netnstest"
)

// The DaemonSet mounts the host's /proc/sys/net at /host/proc/sys/net. A
// write through such a mount must land in the namespace the agent works
// in, and bad directories must be refused before anything is touched.
func TestSysctlDirOutsideProc(t *testing.T) {
	n := nt.NewNS(t)
	if !n.HasBrNetfilter(t) {
		t.Skip("br_netfilter is not loaded: no bridge-nf-call-iptables to write")
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Mounted from the test's own namespace, as the kubelet mounts the
	// host's: which namespace a net sysctl means is decided at open time.
	if err := unix.Mount("/proc/sys/net", filepath.Join(dir, "net"), "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mounting /proc/sys/net: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(filepath.Join(dir, "net"), unix.MNT_DETACH) })

	h, err := New(n.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.SetSysctlDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "mount the host's /proc/sys/net") {
		t.Errorf("an empty directory was accepted: %v", err)
	}
	if err := h.SetSysctlDir(dir); err != nil {
		t.Fatal(err)
	}
	outside, _ := os.ReadFile("/proc/sys/" + bridgeNFCallIPTables)
	for _, v := range []int{1, 0} {
		if err := h.setBridgeNF(v); err != nil {
			t.Fatalf("writing %d through %s: %v", v, dir, err)
		}
		if got := strings.TrimSpace(n.Exec(t, "sysctl", "-n", "net.bridge.bridge-nf-call-iptables")); got != strconv.Itoa(v) {
			t.Errorf("after writing %d the namespace's sysctl is %s", v, got)
		}
		h.RefreshNetfilter()
		if got := h.netfilter.bridgeNF; got == nil || *got != v {
			t.Errorf("read back %v, want %d", got, v)
		}
	}
	if now, _ := os.ReadFile("/proc/sys/" + bridgeNFCallIPTables); string(now) != string(outside) {
		t.Errorf("the test's own namespace changed: %q -> %q", outside, now)
	}
}
