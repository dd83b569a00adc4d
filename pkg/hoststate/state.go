package hoststate

import (
	"net/netip"
	"slices"
	"sort"
	"sync/atomic"
)

// State is one observation of the host.
type State struct {
	Links  []Link // sorted by index
	Routes []Route
	// PortVLANs holds the VLAN IDs configured on bridge ports, by port name.
	PortVLANs map[string][]VLAN
	// BridgeNFCallIPTables is the value of net.bridge.bridge-nf-call-iptables;
	// nil when br_netfilter is not loaded, so bridged frames skip iptables anyway.
	BridgeNFCallIPTables *int
	// Forward holds the iptables FORWARD chain of each backend (nf_tables,
	// legacy) whose filter table exists: either can drop bridged traffic,
	// and a host may use both at once. Nil until read.
	Forward []Forward
	// DHCPRules are the broute rules in BROUTING, in the backend's own words.
	DHCPRules []DHCPRule
	// DHCPBackend is the ebtables command in use, "" when none works.
	DHCPBackend string
	// Doctor is what the host network doctor reads, nil until read.
	Doctor *Doctor

	// idx finds links without scanning Links (index.go): a *linkIndex,
	// in an atomic.Value rather than an atomic.Pointer so that a State
	// may still be copied (the copy checks the index is its own).
	idx atomic.Value
	// ridx finds a link's routes without scanning Routes: a *routeIndex.
	ridx atomic.Value
}

// Link is one network interface.
type Link struct {
	Name        string
	Index       int
	Type        string // netlink kind: device, veth, bridge, bond, ...
	MAC         string
	MTU         int
	AdminUp     bool
	OperState   string // kernel operstate: up, down, lowerlayerdown, dormant, unknown, ...
	Carrier     bool
	Promisc     bool
	MasterIndex int
	// ParentIndex is the lower device of a VLAN, macvlan or ipvlan link
	// (IFLA_LINK), 0 for other kinds (a veth's IFLA_LINK is its peer).
	ParentIndex int
	Loopback    bool
	// VLANFiltering is set for bridges only.
	VLANFiltering *bool
	Addrs         Addrs
	// Alias is the kernel's ifalias (IFLA_IFALIAS), where harvnet marks
	// the links it created.
	Alias string
	// Hardware identity and state; empty or 0 where the kernel or the
	// driver does not say (virtual links, sysfs not mounted).
	PermanentMAC string // IFLA_PERM_ADDRESS, what `ethtool -P` prints
	PCIAddress   string // the PCI slot of the device, e.g. 0000:03:00.0
	Driver       string
	SpeedMbps    int
	Duplex       string // "full", "half", "" unknown
	// Bond is set for bonds, BondSlave for their slaves.
	Bond      *Bond
	BondSlave *BondSlave
}

// Addrs is a list of interface addresses: a link's, or those harvnet
// carries for a NIC.
type Addrs []Addr

// Has reports whether the list holds that prefix (address and length).
func (as Addrs) Has(p netip.Prefix) bool {
	return slices.ContainsFunc(as, func(a Addr) bool { return a.Prefix == p })
}

// Addr is an interface address.
type Addr struct {
	Prefix netip.Prefix
	Scope  int // RT_SCOPE_*: 0 universe, 253 link, 254 host
	// Lifetimes in seconds; 0 means the kernel default (forever).
	ValidLft     int
	PreferredLft int
}

// Global reports whether the address identifies the node (not link-local or host scope).
func (a Addr) Global() bool {
	return a.Scope == 0 && !a.Prefix.Addr().IsLinkLocalUnicast()
}

// VLAN is a VLAN configured on a bridge port.
type VLAN struct {
	VID      int
	PVID     bool
	Untagged bool
}

// TaggedVLANs returns the VLAN IDs a bridge port carries beyond the
// kernel's default (VID 1 and the PVID, which stay as the kernel sets
// them), sorted: what harvnet manages and reports.
func (s *State) TaggedVLANs(port string) []int {
	var out []int
	sorted := true
	for _, v := range s.PortVLANs[port] {
		if !v.PVID && v.VID != 1 {
			sorted = sorted && (len(out) == 0 || out[len(out)-1] < v.VID)
			out = append(out, v.VID)
		}
	}
	if !sorted { // the kernel lists them in order
		sort.Ints(out)
	}
	return out
}

// Forward is one iptables backend's FORWARD chain as seen by harvnet.
type Forward struct {
	Backend string // "nf_tables" or "legacy", as iptables --version says
	Policy  string
	// Accepts lists the interfaces with harvnet's in and out ACCEPT rules.
	AcceptIn  []string
	AcceptOut []string
}

// DHCPRule is one broute rule that hands DHCP of a NIC's own MAC to the NIC.
type DHCPRule struct {
	NIC string
	MAC string
	// Dir is DirSrc or DirDst: which side of the frame carries the NIC's MAC.
	Dir string
}

// DHCP rule directions: the NIC's MAC as source or as destination.
const (
	DirSrc = "src"
	DirDst = "dst"
)

// Link returns the link with that name.
func (s *State) Link(name string) (Link, bool) {
	if i, ok := s.index().byName[name]; ok {
		return s.Links[i], true
	}
	return Link{}, false
}

// LinkByIndex returns the link with that index.
func (s *State) LinkByIndex(index int) (Link, bool) {
	if i, ok := s.index().byIndex[index]; ok {
		return s.Links[i], true
	}
	return Link{}, false
}

// Ports returns the links enslaved to master, sorted by name.
func (s *State) Ports(master string) []Link {
	m, ok := s.Link(master)
	if !ok {
		return nil
	}
	return s.at(s.index().ports[m.Index])
}

// Uppers returns the VLAN, macvlan and ipvlan links stacked on the link
// with that index.
func (s *State) Uppers(index int) []Link {
	var out []Link
	for _, l := range s.Links {
		if l.ParentIndex == index && index != 0 {
			out = append(out, l)
		}
	}
	return out
}

// RoutesOf returns the routes whose device is the named link.
func (s *State) RoutesOf(name string) []Route {
	l, ok := s.Link(name)
	if !ok {
		return nil
	}
	return s.RoutesOfIndex(l.Index)
}

// GlobalAddrs returns the addresses of a link that identify the node.
func (l Link) GlobalAddrs() []Addr {
	var out []Addr
	for _, a := range l.Addrs {
		if a.Global() {
			out = append(out, a)
		}
	}
	return out
}

// Scope is what an event pass reads of the host again; everything else is
// taken from the last read. Changed are the links (by index) that netlink
// events named since then, read whole: the link, its addresses, routes
// and bridge VLANs. Touched are links the pass itself changed, whose
// events may still be on their way: read whole too, by name. Names are
// harvnet's own links (bridge, bond, uplinks), which the pass must see as
// they are now whatever the events said: each is read again as a link,
// and whole only when it is not as the last read had it (new, renamed,
// moved, up or down); else its addresses, routes and VLANs are the last
// read's, which every change to them since would have named in Changed.
type Scope struct {
	Changed []int
	Touched []string
	Names   []string
}
