package hostnet

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// DefaultSysfsDir is where sysfs is mounted. sysfs shows the links of the
// network namespace it was mounted from, and a container's runtime mounts
// /sys (read-only, which is all that is needed) from the container's own
// namespace: for a pod on the host network, the host's. So the chart
// mounts nothing for it.
const DefaultSysfsDir = "/sys"

// pciAddr is a PCI slot as sysfs names it: domain:bus:device.function.
var pciAddr = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

// hardware reads a NIC's PCI slot, driver, speed and duplex from sysfs.
// sysfs shows the links of the network namespace it was mounted in, so a
// Host for another namespace reads nothing until told where that
// namespace's sysfs is, and every read is checked against the link's
// ifindex (a same-named link elsewhere, or a rename racing the read).
// Reads are cached per ifindex: the slot and driver change only with the
// name, speed and duplex only with the carrier, so a pass after a netlink
// event costs no file reads for links that did not change.
type hardware struct {
	mu    sync.Mutex
	dir   string   // sysfs root, "" to read nothing
	kinds []string // link kinds to read: physical NICs, and those offered as uplinks
	cache map[int]hwEntry
}

type hwEntry struct {
	name      string
	carrier   bool
	operState string
	pci       string
	driver    string
	speed     int
	duplex    string
}

func newHardware(dir string) *hardware {
	return &hardware{dir: dir, kinds: []string{"device"}, cache: map[int]hwEntry{}}
}

// SetSysfsDir makes the host read NIC hardware details under dir, which
// must be a sysfs mounted in the host's network namespace (or a tree laid
// out like one); "" reads none.
func (h *Host) SetSysfsDir(dir string) {
	h.hw.mu.Lock()
	defer h.hw.mu.Unlock()
	h.hw.dir, h.hw.cache = dir, map[int]hwEntry{}
}

// SetHardwareKinds says which link kinds get their hardware read besides
// physical NICs ("device"): the kinds offered as uplinks in the inventory.
func (h *Host) SetHardwareKinds(kinds []string) {
	h.hw.mu.Lock()
	defer h.hw.mu.Unlock()
	h.hw.kinds = append([]string{"device"}, kinds...)
}

// fill sets the hardware fields of the links that are NICs, and forgets
// links that are gone.
func (hw *hardware) fill(links []hoststate.Link) {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.dir == "" {
		return
	}
	seen := map[int]bool{}
	for i := range links {
		hw.fillOne(&links[i], seen)
	}
	for idx := range hw.cache {
		if !seen[idx] {
			delete(hw.cache, idx)
		}
	}
}

// fillSome fills the links of a scoped read (see ObserveScoped), which
// are only some of the node's: entries of the others stay cached.
func (hw *hardware) fillSome(byIndex map[int]*hoststate.Link) {
	hw.mu.Lock()
	defer hw.mu.Unlock()
	if hw.dir == "" {
		return
	}
	for _, l := range byIndex {
		hw.fillOne(l, map[int]bool{})
	}
}

func (hw *hardware) fillOne(l *hoststate.Link, seen map[int]bool) {
	if l.Loopback || !slices.Contains(hw.kinds, l.Type) {
		return
	}
	seen[l.Index] = true
	e, ok := hw.cache[l.Index]
	switch {
	case !ok || e.name != l.Name:
		var found bool
		if e, found = hw.read(l); !found {
			return // read again next pass
		}
	case e.carrier != l.Carrier || e.operState != l.OperState:
		e.speed, e.duplex = hw.link(l)
		e.carrier, e.operState = l.Carrier, l.OperState
	}
	hw.cache[l.Index] = e
	l.PCIAddress, l.Driver, l.SpeedMbps, l.Duplex = e.pci, e.driver, e.speed, e.duplex
}

// read reads a link's entry, false when sysfs has no such link.
func (hw *hardware) read(l *hoststate.Link) (hwEntry, bool) {
	e := hwEntry{name: l.Name, carrier: l.Carrier, operState: l.OperState}
	dir := filepath.Join(hw.dir, "class", "net", l.Name)
	if !hw.sameLink(dir, l.Index) {
		return e, false
	}
	e.pci, e.driver = device(dir)
	e.speed, e.duplex = speedDuplex(dir)
	return e, true
}

func (hw *hardware) link(l *hoststate.Link) (int, string) {
	dir := filepath.Join(hw.dir, "class", "net", l.Name)
	if !hw.sameLink(dir, l.Index) {
		return 0, ""
	}
	return speedDuplex(dir)
}

// sameLink reports whether the sysfs entry is the link with that index.
func (hw *hardware) sameLink(dir string, index int) bool {
	b, err := os.ReadFile(filepath.Join(dir, "ifindex"))
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && n == index
}

// device returns the PCI slot and driver of a NIC's device. A virtio NIC's
// device is a virtio bus device whose parent is the PCI function.
func device(dir string) (pci, driver string) {
	target, err := filepath.EvalSymlinks(filepath.Join(dir, "device"))
	if err != nil {
		return "", "" // a virtual link has no device
	}
	for _, d := range []string{target, filepath.Dir(target)} {
		if b := filepath.Base(d); pciAddr.MatchString(b) {
			pci = b
			break
		}
	}
	if drv, err := filepath.EvalSymlinks(filepath.Join(target, "driver")); err == nil {
		driver = filepath.Base(drv)
	}
	return pci, driver
}

// speedDuplex reads the link's speed and duplex. The kernel reports -1 or
// refuses the read (EINVAL) while the link is down or the driver does not
// know; both are 0 and "" here.
func speedDuplex(dir string) (int, string) {
	speed := 0
	if b, err := os.ReadFile(filepath.Join(dir, "speed")); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
			speed = n
		}
	}
	duplex := ""
	if b, err := os.ReadFile(filepath.Join(dir, "duplex")); err == nil {
		if d := strings.TrimSpace(string(b)); d == "full" || d == "half" {
			duplex = d
		}
	}
	return speed, duplex
}
