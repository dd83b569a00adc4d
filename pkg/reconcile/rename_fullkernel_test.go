package reconcile_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"golang.org/x/sys/unix"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostnet"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
	"github.com/harvnet/harvnet/pkg/status"
)

// vmSpareNICMAC is the burnt-in MAC qemu gives the VM tier's spare NIC
// (spareNICMAC in e2e/vm/vmrun/qemu.go).
const vmSpareNICMAC = "52:54:00:aa:10:01"

// spareNIC moves the VM tier's spare PCI NIC (an e1000e wired to nothing,
// e2e/vm/vmrun) into node as name, and returns its burnt-in MAC and PCI
// slot as sysfs tells them before harvnet reads anything: its address
// while the kernel says it is the permanent one (addr_assign_type 0), and
// the device link's target. The NIC goes back to the VM's own namespace
// when node's is deleted.
func spareNIC(t *testing.T, node *nt.Node, name string) (mac, pci string) {
	t.Helper()
	if !nt.FullKernel() {
		// Never anywhere else: it takes a PCI NIC away from its namespace.
		t.Skip("needs the VM tier's spare PCI NIC (scripts/vm-test.sh -tier a)")
	}
	dirs, _ := filepath.Glob("/sys/class/net/*")
	var dev string
	for _, d := range dirs {
		drv, err := os.Readlink(filepath.Join(d, "device", "driver"))
		typ, _ := os.ReadFile(filepath.Join(d, "addr_assign_type"))
		addr, _ := os.ReadFile(filepath.Join(d, "address"))
		if err == nil && filepath.Base(drv) == "e1000e" && strings.TrimSpace(string(typ)) == "0" && strings.TrimSpace(string(addr)) == vmSpareNICMAC {
			dev = d
			break
		}
	}
	nt.RequireKernel(t, dev != "", "a spare PCI NIC (the VM tier's e1000e)")
	addr, err := os.ReadFile(filepath.Join(dev, "address"))
	if err != nil {
		t.Fatal(err)
	}
	target, err := filepath.EvalSymlinks(filepath.Join(dev, "device"))
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "link", "set", "dev", filepath.Base(dev), "netns", node.Name).CombinedOutput(); err != nil {
		t.Fatalf("moving %s into the node: %v %s", filepath.Base(dev), err, out)
	}
	node.IP(t, "link", "set", "dev", filepath.Base(dev), "name", name)
	return strings.TrimSpace(string(addr)), filepath.Base(target)
}

// On a real PCI NIC: harvnet reads its permanent MAC from the kernel and
// its PCI slot and driver from the namespace's own sysfs; a spec naming it
// by permanent MAC (not the MAC it carries now) enslaves it; renamed while
// the agent runs, it stays enslaved with its address on the bridge,
// nothing is released, status and the record follow the new name, and a
// teardown gives the renamed NIC its address back.
func TestARenamedPCINICIsFollowedByItsPermanentMAC(t *testing.T) {
	node := nt.NewNode(t)
	permMAC, pci := spareNIC(t, node, "nic0")
	node.IP(t, "link", "set", "dev", "nic0", "address", "02:00:00:00:10:77")
	node.IP(t, "addr", "add", "10.12.0.5/24", "dev", "nic0")
	node.IP(t, "link", "set", "dev", "nic0", "up")

	sysfs := t.TempDir()
	if err := node.Do(func(ns.NetNS) error { return unix.Mount("sysfs", sysfs, "sysfs", 0, "") }); err != nil {
		t.Fatalf("mounting the node's sysfs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(sysfs, unix.MNT_DETACH) })
	host, err := hostnet.New(node.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	host.SetSysfsDir(sysfs)
	host.SetHardwareKinds(testOpts.UplinkTypes)
	rec, err := reconcile.New(host, testOpts, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{node: node, host: host, rec: rec}

	st, err := host.Observe()
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := st.Link("nic0"); l.PermanentMAC != permMAC || l.PCIAddress != pci || l.Driver != "e1000e" || l.MAC != "02:00:00:00:10:77" {
		t.Fatalf("nic0 observed as permanent MAC %q PCI %q driver %q MAC %q, want %s %s e1000e 02:00:00:00:10:77",
			l.PermanentMAC, l.PCIAddress, l.Driver, l.MAC, permMAC, pci)
	}

	in := desired.Input{Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{
		Type:   v1alpha1.NetworkTypeVLAN,
		Uplink: &v1alpha1.UplinkSpec{NICs: []v1alpha1.NICRef{{MAC: strings.ToUpper(permMAC)}}},
	}}}
	if res := f.reconcile(t, in); res.Desired.Uplink != "nic0" {
		t.Fatalf("uplink %q, want nic0 (by its permanent MAC)", res.Desired.Uplink)
	}
	if l := f.link(t, "nic0"); l.Master != br {
		t.Fatalf("nic0 master %q, want %s", l.Master, br)
	}

	node.IP(t, "link", "set", "dev", "nic0", "down")
	node.IP(t, "link", "set", "dev", "nic0", "name", "lan0")
	node.IP(t, "link", "set", "dev", "lan0", "up")
	res := f.reconcile(t, in)
	if res.Desired.Uplink != "lan0" {
		t.Fatalf("uplink after the rename %q, want lan0", res.Desired.Uplink)
	}
	for _, a := range res.Applied {
		if a.Op == plan.SetNoMaster || a.Op == plan.DelAddr || a.Op == plan.DelRoute {
			t.Errorf("the rename released or moved something: %s", a)
		}
	}
	if l := f.link(t, "lan0"); l.Master != br {
		t.Errorf("lan0 master %q, want still %s", l.Master, br)
	}
	if got := f.link(t, br).GlobalAddrs(); !slices.Equal(got, []string{"10.12.0.5/24"}) {
		t.Errorf("bridge addresses %v after the rename, want 10.12.0.5/24", got)
	}
	s := status.Build(res, testOpts, 1)
	// Its carrier is not the point (a NIC wired to nothing comes and goes
	// as qemu's link timer runs); the name status shows is.
	_, now := s.NetworkStatus["lan0"]
	_, old := s.NetworkStatus["nic0"]
	if len(s.UplinkNICs) != 1 || s.UplinkNICs[0].Name != "lan0" || !now || old {
		t.Errorf("status: uplinkNICs %+v, networkStatus %v, want lan0 and not nic0", s.UplinkNICs, keys(s.NetworkStatus))
	}
	found := false
	for _, n := range s.NICs {
		if n.Name == "lan0" {
			found = n.PermanentMAC == permMAC && n.PCIAddress == pci && n.Driver == "e1000e"
			t.Logf("inventory: %+v", n)
		}
	}
	if !found {
		t.Errorf("inventory lacks lan0 with its permanent MAC, PCI slot and driver: %+v", s.NICs)
	}

	f.reconcile(t, desired.Input{})
	if l := f.link(t, "lan0"); l.Master != "" || !slices.Equal(l.GlobalAddrs(), []string{"10.12.0.5/24"}) {
		t.Errorf("released lan0: master %q addresses %v, want none and 10.12.0.5/24", l.Master, l.GlobalAddrs())
	}
}
