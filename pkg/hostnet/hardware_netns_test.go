package hostnet

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// mountSysfsOf mounts a sysfs of n's network namespace (sysfs shows the
// links of the namespace it is mounted from), as `ip netns exec` does.
func mountSysfsOf(t *testing.T, n *nt.NS) string {
	t.Helper()
	dir := t.TempDir()
	if err := n.Do(func(ns.NetNS) error { return unix.Mount("sysfs", dir, "sysfs", 0, "") }); err != nil {
		t.Fatalf("mounting the namespace's sysfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func observeLink(t *testing.T, h *Host, name string) hoststate.Link {
	t.Helper()
	st, err := h.Observe()
	if err != nil {
		t.Fatal(err)
	}
	l, ok := st.Link(name)
	if !ok {
		t.Fatalf("no link %s", name)
	}
	return l
}

// Speed and duplex come from the real kernel through the namespace's own
// sysfs: a veth reports 10000/full while up and refuses the read while
// down. A veth has no permanent MAC, no device and so no PCI slot or driver.
func TestObserveHardwareRealKernel(t *testing.T) {
	n := nt.NewNS(t)
	n.IP(t, "link", "add", "nic0", "type", "veth", "peer", "name", "nic0p")
	n.IP(t, "link", "set", "nic0p", "up")
	n.IP(t, "link", "set", "nic0", "up")
	h, err := New(n.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.SetHardwareKinds([]string{"veth"})

	// A Host for another namespace reads no sysfs until told where that
	// namespace's is: /sys is the test's own namespace.
	if l := observeLink(t, h, "nic0"); l.SpeedMbps != 0 || l.Duplex != "" {
		t.Errorf("read hardware of another namespace's sysfs: %+v", l)
	}

	h.SetSysfsDir(mountSysfsOf(t, n))
	nt.Eventually(t, 5*time.Second, func() string {
		l := observeLink(t, h, "nic0")
		if l.SpeedMbps != 10000 || l.Duplex != "full" {
			return fmt.Sprintf("nic0 up: speed %d duplex %q", l.SpeedMbps, l.Duplex)
		}
		if l.PermanentMAC != "" || l.PCIAddress != "" || l.Driver != "" {
			return "a veth has a permanent MAC, PCI slot or driver: " + l.PermanentMAC + " " + l.PCIAddress + " " + l.Driver
		}
		return ""
	})
	n.IP(t, "link", "set", "nic0", "down")
	if l := observeLink(t, h, "nic0"); l.SpeedMbps != 0 || l.Duplex != "" {
		t.Errorf("nic0 down still reports speed %d duplex %q", l.SpeedMbps, l.Duplex)
	}
	// A rename is read under the new name at once.
	n.IP(t, "link", "set", "nic0", "name", "lan0")
	n.IP(t, "link", "set", "lan0", "up")
	nt.Eventually(t, 5*time.Second, func() string {
		if l := observeLink(t, h, "lan0"); l.SpeedMbps != 10000 {
			return fmt.Sprintf("lan0 (renamed nic0) up: speed %d", l.SpeedMbps)
		}
		return ""
	})
}

// On the machine's own namespace, read only: a link whose address is its
// burnt-in one (sysfs addr_assign_type 0, NET_ADDR_PERM) reports that
// address as its permanent MAC. Where no such link exists (a VM without
// NICs) there is nothing to compare.
func TestObservePermanentMACOfHostNICs(t *testing.T) {
	nt.RequireRoot(t)
	h, err := New("")
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	st, err := h.Observe()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, l := range st.Links {
		dir := filepath.Join("/sys/class/net", l.Name)
		typ, err1 := os.ReadFile(filepath.Join(dir, "addr_assign_type"))
		addr, err2 := os.ReadFile(filepath.Join(dir, "address"))
		if err1 != nil || err2 != nil || strings.TrimSpace(string(typ)) != "0" || l.Loopback {
			continue
		}
		a := strings.TrimSpace(string(addr))
		if a == "" || a == "00:00:00:00:00:00" || strings.Count(a, ":") != 5 {
			continue
		}
		checked++
		if l.PermanentMAC != a {
			t.Errorf("%s: permanent MAC %q, but its address %s is the burnt-in one", l.Name, l.PermanentMAC, a)
		}
		if _, err := os.Stat(filepath.Join(dir, "device")); err == nil && l.Driver == "" {
			t.Errorf("%s has a device but no driver was read", l.Name)
		}
	}
	if checked == 0 {
		t.Skip("no link here has a burnt-in address")
	}
	t.Logf("%d links checked", checked)
}
