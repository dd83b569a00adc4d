package framework

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/harvnet/harvnet/internal/netnstest"
)

// Switch is the namespace all nodes' NICs are cabled to: one bridge for
// the management segment and one for the VM (data) segment.
type Switch struct {
	*netnstest.NS
}

// Switch bridges and the management segment's gateway address.
const (
	MgmtSwitch = "sw-mgmt"
	DataSwitch = "sw-data"
	Gateway4   = "10.50.0.254"
	Gateway6   = "fd50::fe"
)

// NewSwitch creates the switch namespace.
func NewSwitch(prefix string) (*Switch, error) {
	n, err := netnstest.NewNamedNS(prefix + "-switch")
	if err != nil {
		return nil, err
	}
	s := &Switch{NS: n}
	return s, tryIPAll(s.NS,
		[]string{"link", "add", MgmtSwitch, "type", "bridge"},
		[]string{"link", "add", DataSwitch, "type", "bridge"},
		[]string{"link", "set", MgmtSwitch, "up"},
		[]string{"link", "set", DataSwitch, "up"},
		// The switch answers as the nodes' default gateway.
		[]string{"addr", "add", Gateway4 + "/24", "dev", MgmtSwitch},
		[]string{"addr", "add", Gateway6 + "/64", "dev", MgmtSwitch, "nodad"},
	)
}

// Close deletes the switch namespace and so every cable into it. Nil-safe.
func (s *Switch) Close() {
	if s != nil {
		_ = s.Remove()
	}
}

// Ping checks a node answers on addr, pinged from the switch.
func (s *Switch) Ping(t *testing.T, addr string) {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "exec", s.Name, "ping", "-c1", "-W2", addr).CombinedOutput(); err != nil {
		t.Errorf("the node does not answer on %s: %v: %s", addr, err, out)
	}
}

// nics are every node's NICs: eth0 on the management segment, eth1 and
// eth2 on the data segment.
var nics = []string{"eth0", "eth1", "eth2"}

// Node is one node: a netnstest.Node (its namespace, and the switch its
// NICs are cabled to) that stands for the core Node Name.
type Node struct {
	*netnstest.Node
	// Name is the core Node's name; the namespace's is NS.Name.
	Name string
	// Index numbers the node on the management segment: 10.50.0.<Index>.
	Index int
}

// Addr4 and Addr6 are the node's management addresses.
func (n *Node) Addr4() string { return fmt.Sprintf("10.50.0.%d", n.Index) }
func (n *Node) Addr6() string { return fmt.Sprintf("fd50::%x", n.Index) }

// NewNode creates a node namespace with three NICs: eth0 holds the
// management addresses and default routes, eth1 and eth2 are free for VMs.
// Close the node also after an error.
func NewNode(sw *Switch, prefix, name string, index int) (*Node, error) {
	n := &Node{Name: name, Index: index}
	ns, err := netnstest.NewNamedNS(prefix + "-" + name)
	if err != nil {
		return n, err
	}
	n.Node = &netnstest.Node{NS: ns, Switch: sw.NS}
	for i, segment := range []string{MgmtSwitch, DataSwitch, DataSwitch} {
		nic := nics[i]
		peer := name + "-" + nic
		if len(peer) > 15 {
			return n, fmt.Errorf("node name %q is too long for its switch port names", name)
		}
		if err := n.Plug(nic, peer, segment); err != nil {
			return n, err
		}
	}
	return n, tryIPAll(n.NS,
		[]string{"addr", "add", n.Addr4() + "/24", "dev", "eth0"},
		[]string{"addr", "add", n.Addr6() + "/64", "dev", "eth0", "nodad"},
		[]string{"route", "add", "default", "via", Gateway4, "dev", "eth0", "proto", "static"},
		[]string{"-6", "route", "add", "default", "via", Gateway6, "dev", "eth0", "proto", "static"},
	)
}

// HasDefaultRoute reports whether the node's IPv4 default route goes via
// the gateway on dev.
func (n *Node) HasDefaultRoute(dev string) bool {
	out, err := n.TryIP("route", "show", "default", "dev", dev)
	return err == nil && strings.Contains(out, "via "+Gateway4)
}

// PortOf says "" when nic is an up port of Bridge in the kernel, else what
// it is instead.
func (n *Node) PortOf(t *testing.T, nic string) string {
	l, ok := n.Link(t, nic)
	if !ok || l.Master != Bridge || !l.Up() {
		return fmt.Sprintf("%s: %s is not an up port of %s (master %q)", n.Name, nic, Bridge, l.Master)
	}
	return ""
}

// Close deletes the node's cables and namespace. Nil-safe. The cables go
// first: the kernel frees a namespace's links some time after its last
// user leaves, and until then a node made again under the same name would
// find its switch port names taken.
func (n *Node) Close() {
	if n == nil || n.Node == nil {
		return
	}
	for _, nic := range nics {
		_, _ = n.Switch.TryIP("link", "del", n.Name+"-"+nic)
	}
	_ = n.NS.Remove()
}

// tryIPAll runs several ip commands in a namespace, stopping at the first
// error.
func tryIPAll(n *netnstest.NS, cmds ...[]string) error {
	for _, c := range cmds {
		if _, err := n.TryIP(c...); err != nil {
			return err
		}
	}
	return nil
}
