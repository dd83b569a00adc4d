package hostnet

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// fakeSysfs lays out a tree like sysfs: class/net/<name> with ifindex,
// speed and duplex, and a device link into devices/ whose driver links
// into bus/, relative as the kernel makes them.
type fakeSysfs struct {
	t    *testing.T
	root string
}

func newFakeSysfs(t *testing.T) *fakeSysfs { return &fakeSysfs{t: t, root: t.TempDir()} }

func (f *fakeSysfs) write(rel, content string) {
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeSysfs) symlink(rel, target string) {
	p := filepath.Join(f.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	_ = os.Remove(p)
	if err := os.Symlink(target, p); err != nil {
		f.t.Fatal(err)
	}
}

// nic adds class/net/<name>; device is the path under devices/ ("" for a
// virtual link), driver the driver's name under bus/<bus>/drivers.
func (f *fakeSysfs) nic(name string, index int, device, bus, driver, speed, duplex string) {
	f.write("class/net/"+name+"/ifindex", strconv.Itoa(index))
	f.write("class/net/"+name+"/speed", speed)
	f.write("class/net/"+name+"/duplex", duplex)
	if device == "" {
		return
	}
	if err := os.MkdirAll(filepath.Join(f.root, "devices", device), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(f.root, "bus", bus, "drivers", driver), 0o755); err != nil {
		f.t.Fatal(err)
	}
	up := "../../../" // from class/net/<name>
	f.symlink("class/net/"+name+"/device", up+"devices/"+device)
	rel, err := filepath.Rel(filepath.Join(f.root, "devices", device), filepath.Join(f.root, "bus", bus, "drivers", driver))
	if err != nil {
		f.t.Fatal(err)
	}
	f.symlink("devices/"+device+"/driver", rel)
}

func TestHardwareFromSysfs(t *testing.T) {
	f := newFakeSysfs(t)
	f.nic("ens3", 2, "pci0000:00/0000:00:03.0", "pci", "e1000", "1000", "full")
	f.nic("ens4", 3, "pci0000:00/0000:00:04.0/virtio1", "virtio", "virtio_net", "-1", "unknown")
	f.nic("eth9", 4, "pci0000:00/0000:00:05.0", "pci", "ixgbe", "10000", "full") // sysfs index 4, netlink says 40
	f.nic("usb0", 5, "pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0", "usb", "cdc_ether", "480", "half")
	f.nic("veth0", 6, "", "", "", "10000", "full")
	f.write("class/net/eth8/speed", "1000") // no ifindex at all

	links := []hoststate.Link{
		{Name: "lo", Index: 1, Type: "device", Loopback: true},
		{Name: "ens3", Index: 2, Type: "device", Carrier: true, OperState: "up"},
		{Name: "ens4", Index: 3, Type: "device"},
		{Name: "eth9", Index: 40, Type: "device"},
		{Name: "usb0", Index: 5, Type: "device", Carrier: true},
		{Name: "veth0", Index: 6, Type: "veth", Carrier: true},
		{Name: "eth8", Index: 7, Type: "device"},
		{Name: "br0", Index: 8, Type: "bridge"},
	}
	want := map[string]hoststate.Link{
		"ens3": {PCIAddress: "0000:00:03.0", Driver: "e1000", SpeedMbps: 1000, Duplex: "full"},
		"ens4": {PCIAddress: "0000:00:04.0", Driver: "virtio_net"},
		"usb0": {Driver: "cdc_ether", SpeedMbps: 480, Duplex: "half"},
	}
	hw := newHardware(f.root)
	hw.fill(links)
	for _, l := range links {
		w := want[l.Name]
		if l.PCIAddress != w.PCIAddress || l.Driver != w.Driver || l.SpeedMbps != w.SpeedMbps || l.Duplex != w.Duplex {
			t.Errorf("%s: got pci %q driver %q speed %d duplex %q, want %q %q %d %q", l.Name,
				l.PCIAddress, l.Driver, l.SpeedMbps, l.Duplex, w.PCIAddress, w.Driver, w.SpeedMbps, w.Duplex)
		}
	}

	// veth0 once veths are offered as uplinks: speed, no device.
	hw.kinds = []string{"device", "veth"}
	links[5].SpeedMbps = 0
	hw.fill(links)
	if l := links[5]; l.SpeedMbps != 10000 || l.Duplex != "full" || l.PCIAddress != "" || l.Driver != "" {
		t.Errorf("veth0 offered as uplink: %+v", l)
	}
}

// The cache reads a link's files again only when its name or its carrier
// changed: the speed of a link whose carrier did not change stays as read.
func TestHardwareCache(t *testing.T) {
	f := newFakeSysfs(t)
	f.nic("ens3", 2, "pci0000:00/0000:00:03.0", "pci", "e1000", "1000", "full")
	hw := newHardware(f.root)
	obs := func(name string, carrier bool) hoststate.Link {
		ls := []hoststate.Link{{Name: name, Index: 2, Type: "device", Carrier: carrier}}
		hw.fill(ls)
		return ls[0]
	}
	if l := obs("ens3", true); l.SpeedMbps != 1000 {
		t.Fatalf("first read: %+v", l)
	}
	f.write("class/net/ens3/speed", "100")
	if l := obs("ens3", true); l.SpeedMbps != 1000 {
		t.Errorf("read again without a carrier change: %+v", l)
	}
	if l := obs("ens3", false); l.SpeedMbps != 100 {
		t.Errorf("carrier changed but speed not read again: %+v", l)
	}
	// Renamed: sysfs has it under the new name only.
	if err := os.Rename(filepath.Join(f.root, "class/net/ens3"), filepath.Join(f.root, "class/net/lan0")); err != nil {
		t.Fatal(err)
	}
	if l := obs("lan0", false); l.PCIAddress != "0000:00:03.0" || l.Driver != "e1000" {
		t.Errorf("after a rename: %+v", l)
	}
	if len(hw.cache) != 1 {
		t.Errorf("cache holds %d entries, want 1", len(hw.cache))
	}
	hw.fill(nil)
	if len(hw.cache) != 0 {
		t.Errorf("a link that is gone is still cached: %v", hw.cache)
	}
}

// BenchmarkHardwareFillCached is what the hardware read adds to a pass
// after a netlink event on a node with 4 NICs and 200 VM ports: the NICs
// are cached, the ports are not NIC kinds.
func BenchmarkHardwareFillCached(b *testing.B) {
	root := b.TempDir()
	f := &fakeSysfs{t: &testing.T{}, root: root}
	var links []hoststate.Link
	for i := 0; i < 4; i++ {
		name := "ens" + strconv.Itoa(i)
		f.nic(name, i+2, "pci0000:00/0000:00:0"+strconv.Itoa(i)+".0", "pci", "ixgbe", "10000", "full")
		links = append(links, hoststate.Link{Name: name, Index: i + 2, Type: "device", Carrier: true})
	}
	for i := 0; i < 200; i++ {
		links = append(links, hoststate.Link{Name: "vm" + strconv.Itoa(i), Index: 100 + i, Type: "veth", Carrier: true})
	}
	hw := newHardware(root)
	hw.fill(links)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		hw.fill(links)
	}
}
