package framework

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/harvnet/harvnet/internal/netnstest"
)

// ip runs `ip args...` and returns an error with its output.
func ip(args ...string) error {
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ipAll runs several ip commands, stopping at the first error.
func ipAll(cmds ...[]string) error {
	for _, c := range cmds {
		if err := ip(c...); err != nil {
			return err
		}
	}
	return nil
}

// Switch is the namespace all nodes' NICs are cabled to: one bridge for
// the management segment and one for the VM (data) segment.
type Switch struct {
	NS string
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
	s := &Switch{NS: prefix + "-switch"}
	_ = ip("netns", "del", s.NS) // left over from a killed run
	err := ipAll(
		[]string{"netns", "add", s.NS},
		[]string{"-n", s.NS, "link", "set", "lo", "up"},
		[]string{"-n", s.NS, "link", "add", MgmtSwitch, "type", "bridge"},
		[]string{"-n", s.NS, "link", "add", DataSwitch, "type", "bridge"},
		[]string{"-n", s.NS, "link", "set", MgmtSwitch, "up"},
		[]string{"-n", s.NS, "link", "set", DataSwitch, "up"},
		// The switch answers as the nodes' default gateway.
		[]string{"-n", s.NS, "addr", "add", Gateway4 + "/24", "dev", MgmtSwitch},
		[]string{"-n", s.NS, "addr", "add", Gateway6 + "/64", "dev", MgmtSwitch, "nodad"},
	)
	return s, err
}

// Close deletes the switch namespace and so every cable into it.
func (s *Switch) Close() { _ = ip("netns", "del", s.NS) }

// Node is one node's namespace.
type Node struct {
	Name string // the core Node's name
	NS   string
	// Index numbers the node on the management segment: 10.50.0.<Index>.
	Index int
}

// Addr4 and Addr6 are the node's management addresses.
func (n *Node) Addr4() string { return fmt.Sprintf("10.50.0.%d", n.Index) }
func (n *Node) Addr6() string { return fmt.Sprintf("fd50::%x", n.Index) }

// NewNode creates a node namespace with three NICs: eth0 holds the
// management addresses and default routes, eth1 and eth2 are free for VMs.
func NewNode(sw *Switch, prefix, name string, index int) (*Node, error) {
	n := &Node{Name: name, NS: prefix + "-" + name, Index: index}
	_ = ip("netns", "del", n.NS)
	if err := ipAll([]string{"netns", "add", n.NS}, []string{"-n", n.NS, "link", "set", "lo", "up"}); err != nil {
		return n, err
	}
	for i, segment := range []string{MgmtSwitch, DataSwitch, DataSwitch} {
		nic := fmt.Sprintf("eth%d", i)
		peer := fmt.Sprintf("%s-%s", name, nic)
		if len(peer) > 15 {
			return n, fmt.Errorf("node name %q is too long for its switch port names", name)
		}
		if err := ipAll(
			[]string{"-n", sw.NS, "link", "add", peer, "type", "veth", "peer", "name", nic, "netns", n.NS},
			[]string{"-n", sw.NS, "link", "set", peer, "master", segment, "up"},
			[]string{"-n", n.NS, "link", "set", nic, "up"},
		); err != nil {
			return n, err
		}
	}
	return n, ipAll(
		[]string{"-n", n.NS, "addr", "add", n.Addr4() + "/24", "dev", "eth0"},
		[]string{"-n", n.NS, "addr", "add", n.Addr6() + "/64", "dev", "eth0", "nodad"},
		[]string{"-n", n.NS, "route", "add", "default", "via", Gateway4, "dev", "eth0", "proto", "static"},
		[]string{"-n", n.NS, "-6", "route", "add", "default", "via", Gateway6, "dev", "eth0", "proto", "static"},
	)
}

// Path is the namespace's bind mount.
func (n *Node) Path() string { return "/run/netns/" + n.NS }

// IP runs `ip -n <ns> args...` and returns its standard output; see
// netnstest.IPIn.
func (n *Node) IP(args ...string) (string, error) { return netnstest.IPIn(n.NS, args...) }

// Close deletes the node's namespace.
func (n *Node) Close() { _ = ip("netns", "del", n.NS) }
