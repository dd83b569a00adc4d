package reconcile_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostnet"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
	"github.com/harvnet/harvnet/pkg/status"
)

// pciNIC lays out, under a fake sysfs root, what the kernel shows for a
// PCI NIC: class/net/<name>/ifindex and a device link to its PCI function
// with a driver. veths have no device in sysfs, so the test's NIC gets its
// PCI identity from here; the kernel side (the rename, the port, the
// addresses) is real.
func pciNIC(t *testing.T, root, name string, index int, pci, driver string) {
	t.Helper()
	dev := filepath.Join(root, "devices/pci0000:00", pci)
	drv := filepath.Join(root, "bus/pci/drivers", driver)
	nic := filepath.Join(root, "class/net", name)
	for _, d := range []string{dev, drv, nic} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, err := range []error{
		os.WriteFile(filepath.Join(nic, "ifindex"), []byte(strconv.Itoa(index)+"\n"), 0o644),
		os.Symlink("../../../devices/pci0000:00/"+pci, filepath.Join(nic, "device")),
		os.Symlink("../../../bus/pci/drivers/"+driver, filepath.Join(dev, "driver")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func pciSpec(pci string) desired.Input {
	return desired.Input{Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{
		Type:   v1alpha1.NetworkTypeVLAN,
		Uplink: &v1alpha1.UplinkSpec{NICs: []v1alpha1.NICRef{{PCIAddress: pci}}},
	}}}
}

// The management NIC, named in the spec by its PCI address, is renamed
// while the agent runs (as a udev rule or an admin would: down, rename,
// up): the next pass finds it under its new name, keeps it enslaved with
// the node's addresses on the bridge, releases nothing, and status and
// the state file follow the new name; a teardown then gives the renamed
// NIC the addresses the record carried.
func TestARenamedUplinkIsFollowedByItsPCIAddress(t *testing.T) {
	node := nt.NewNode(t)
	node.AddManagementNIC(t, "eth0")
	host, err := hostnet.New(node.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	sysfs := t.TempDir()
	host.SetSysfsDir(sysfs)
	host.SetHardwareKinds(testOpts.UplinkTypes)
	dir := t.TempDir()
	rec, err := reconcile.New(host, testOpts, dir)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{node: node, host: host, rec: rec}
	eth0 := f.link(t, "eth0")
	wantAddrs := sorted(eth0.GlobalAddrs())
	pciNIC(t, sysfs, "eth0", eth0.Index, "0000:00:03.0", "e1000")
	in := pciSpec("0000:00:03.0")

	res := f.reconcile(t, in)
	if res.Desired.Uplink != "eth0" {
		t.Fatalf("uplink %q, want eth0 (resolved from its PCI address)", res.Desired.Uplink)
	}
	if l := f.link(t, "eth0"); l.Master != br {
		t.Fatalf("eth0 master %q, want %s", l.Master, br)
	}

	node.IP(t, "link", "set", "eth0", "down")
	node.IP(t, "link", "set", "eth0", "name", "lan0")
	node.IP(t, "link", "set", "lan0", "up")
	nt.Eventually(t, 5*time.Second, func() string {
		if l := f.link(t, "lan0"); l.OperState != "UP" {
			return "lan0 operstate " + l.OperState
		}
		return ""
	})
	// sysfs renames the NIC's directory with it.
	if err := os.Rename(filepath.Join(sysfs, "class/net/eth0"), filepath.Join(sysfs, "class/net/lan0")); err != nil {
		t.Fatal(err)
	}

	res = f.reconcile(t, in)
	if res.Desired.Uplink != "lan0" {
		t.Fatalf("uplink after the rename %q, want lan0", res.Desired.Uplink)
	}
	for _, a := range res.Applied {
		if a.Op == plan.SetNoMaster || a.Op == plan.DelAddr || a.Op == plan.DelRoute {
			t.Errorf("the rename released or moved something: %s", a)
		}
	}
	lan0, bridge := f.link(t, "lan0"), f.link(t, br)
	if lan0.Master != br || !lan0.Up() {
		t.Errorf("lan0 master %q up %v, want still enslaved to %s and up", lan0.Master, lan0.Up(), br)
	}
	if got := sorted(bridge.GlobalAddrs()); !slices.Equal(got, wantAddrs) {
		t.Errorf("bridge addresses %v after the rename, want still %v", got, wantAddrs)
	}
	if got := lan0.GlobalAddrs(); len(got) != 0 {
		t.Errorf("lan0 holds %v, want its addresses still on the bridge", got)
	}
	st := status.Build(res, testOpts, 1)
	if _, ok := st.NetworkStatus["lan0"]; !ok || st.UplinkStatus != v1alpha1.LinkUp {
		t.Errorf("status does not follow lan0: uplinkStatus %q, networkStatus keys %v", st.UplinkStatus, keys(st.NetworkStatus))
	}
	if _, ok := st.NetworkStatus["eth0"]; ok {
		t.Errorf("status still shows eth0")
	}
	if len(st.UplinkNICs) != 1 || st.UplinkNICs[0].Name != "lan0" || st.UplinkNICs[0].Ref.PCIAddress != "0000:00:03.0" {
		t.Errorf("status.uplinkNICs %+v, want the PCI address resolved to lan0", st.UplinkNICs)
	}
	var inv *v1alpha1.NIC
	for i := range st.NICs {
		if st.NICs[i].Name == "lan0" {
			inv = &st.NICs[i]
		}
	}
	if inv == nil || inv.PCIAddress != "0000:00:03.0" || inv.Driver != "e1000" {
		t.Errorf("inventory entry of lan0 %+v, want its PCI address and driver", inv)
	}
	saved, _, err := checkpoint.ReadState(checkpoint.Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := saved.Uplinks["lan0"]; !ok || len(saved.Uplinks) != 1 {
		t.Errorf("state file records %v, want lan0 only", keys(saved.Uplinks))
	}

	// Released after the rename: the renamed NIC gets the node back.
	f.reconcile(t, desired.Input{})
	lan0 = f.link(t, "lan0")
	if got := sorted(lan0.GlobalAddrs()); lan0.Master != "" || !slices.Equal(got, wantAddrs) {
		t.Errorf("released lan0: master %q addresses %v, want none and %v", lan0.Master, got, wantAddrs)
	}
	if r := node.Routes(t, "-4", "lan0"); !hasRoute(r, "default via 10.11.0.1") || !hasRoute(r, "192.168.77.0/24") {
		t.Errorf("lan0 routes after release %q lack the default or static route", r)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
