// Package netnstest builds throwaway network namespaces that look like a
// node: veth "NICs" whose peers sit in a shared "switch" namespace, so tests
// run harvnet against the real kernel without touching the host's network.
// The e2e framework (e2e/framework) builds its named, longer-lived nodes
// from the same Node (NewNamedNS, Plug) and reads them through the same
// Link view; Eventually is the one poller of both.
package netnstest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/containernetworking/plugins/pkg/testutils"
	"golang.org/x/sys/unix"
)

// RequireRoot skips a test that needs root, saying so; under CI or on a
// full kernel, where these tests are the point of the run, it fails it.
//
// Under `go test -short` (make test-unit) it skips, root or not: the unit
// tier is the logic only, in seconds; the netns tier runs in make test.
func RequireRoot(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("a netns test: -short runs the unit tests only")
	}
	if os.Geteuid() != 0 {
		if FullKernel() || InCI() {
			t.Fatalf("not running as root (full kernel %v, CI %v): this run must exercise the netns tests, not skip them", FullKernel(), InCI())
		}
		t.Skip("needs root: it creates network namespaces, veths and bridges (run `sudo make test`)")
	}
}

// NS is one throwaway network namespace.
type NS struct {
	ns.NetNS
	Name string // its name under /run/netns, for `ip -n`
}

// NewNS creates a namespace with loopback up, removed when the test ends.
func NewNS(t testing.TB) *NS {
	t.Helper()
	RequireRoot(t)
	n, err := testutils.NewNS()
	if err != nil {
		t.Fatalf("creating netns: %v", err)
	}
	out := &NS{NetNS: n, Name: filepath.Base(n.Path())}
	t.Cleanup(func() {
		n.Close()
		if err := unmountNS(n.Path()); err != nil {
			t.Logf("leaving namespace %s behind: %v", n.Path(), err)
		}
	})
	out.IP(t, "link", "set", "lo", "up")
	// "all" off lets each link's own accept_dad decide; AddNIC turns it off
	// for the NICs it adds (see there). Without IPv6 there is nothing to do.
	_ = out.writeSysctl("net/ipv6/conf/all/accept_dad", "0")
	return out
}

// unmountNS removes a namespace's bind mount and file. Parallel tests make
// and remove namespaces under /run/netns at once, and the kernel then
// refuses an unmount now and then with EBUSY, even a lazy one: retried, it
// goes.
func unmountNS(path string) error {
	var err error
	for try := 0; try < 100; try++ {
		if err = unix.Unmount(path, unix.MNT_DETACH); !errors.Is(err, unix.EBUSY) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("unmounting: %w", err)
	}
	return os.Remove(path)
}

// writeSysctl writes /proc/sys/<path> as seen from inside the namespace.
func (n *NS) writeSysctl(path, value string) error {
	return n.Do(func(ns.NetNS) error {
		return os.WriteFile("/proc/sys/"+path, []byte(value), 0o644)
	})
}

// IP runs `ip -n <ns> args...` and fails the test if it fails.
func (n *NS) IP(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.TryIP(args...)
	if err != nil {
		t.Fatalf("ip -n %s %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return out
}

// TryIP runs `ip -n <ns> args...` and returns its output and error; on
// failure the output ends with ip's complaint.
func (n *NS) TryIP(args ...string) (string, error) {
	out, err := IPIn(n.Name, args...)
	if err != nil {
		return out + err.Error(), err
	}
	return out, nil
}

// IPIn runs `ip -n ns args...` and returns its standard output. ip warns on
// stderr when another test's namespace vanishes while it names link-netns
// peers; that noise must not reach outputs compared byte for byte, so
// stderr is only in the error.
func IPIn(ns string, args ...string) (string, error) {
	var stderr strings.Builder
	cmd := exec.Command("ip", append([]string{"-n", ns}, args...)...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("ip -n %s %s: %v: %s", ns, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Exec runs a command inside the namespace.
func (n *NS) Exec(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name, name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %s %s: %v: %s", n.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Node is a namespace standing for a node, wired to a switch namespace.
type Node struct {
	*NS
	Switch *NS
}

// NewNode returns an empty node and its switch.
func NewNode(t testing.TB) *Node {
	return &Node{NS: NewNS(t), Switch: NewNS(t)}
}

// AddNIC adds a veth named name to the node with its peer in the switch,
// both up (so the NIC has carrier), holding the given addresses.
func (n *Node) AddNIC(t testing.TB, name string, addrs ...string) {
	t.Helper()
	if err := n.Plug(name, "sw-"+name, ""); err != nil {
		t.Fatal(err)
	}
	n.waitUp(t, name)
	for _, a := range addrs {
		args := []string{"addr", "add", a, "dev", name}
		if strings.Contains(a, ":") {
			args = append(args, "nodad") // no second of tentative address in tests
		}
		n.IP(t, args...)
	}
}

// Plug adds a veth NIC named name to the node with its peer, named peer, in
// the switch, and sets both up; the peer joins the switch's bridge when one
// is named. It does not wait for carrier. It returns errors rather than
// failing a test because the e2e framework also builds nodes for the demo.
func (n *Node) Plug(name, peer, bridge string) error {
	if _, err := n.Switch.TryIP("link", "add", peer, "type", "veth", "peer", "name", name, "netns", n.Name); err != nil {
		return err
	}
	up := []string{"link", "set", peer, "up"}
	if bridge != "" {
		up = []string{"link", "set", peer, "master", bridge, "up"}
	}
	if _, err := n.Switch.TryIP(up...); err != nil {
		return err
	}
	// No duplicate address detection for the NIC's link-local address: it
	// would turn from tentative to valid a second or two later (much later
	// on an emulated CPU), in the middle of tests that compare snapshots.
	// Links harvnet creates keep the kernel default.
	_ = n.writeSysctl("net/ipv6/conf/"+name+"/accept_dad", "0")
	_, err := n.TryIP("link", "set", name, "up")
	return err
}

// waitUp waits until a link that was just set up has come up: carrier and
// operstate UP, which the kernel reports a moment after the link is set up
// (much later on an emulated CPU), and, with IPv6, its link-local address,
// which the kernel adds then. Tests that snapshot the node see it settled.
func (n *Node) waitUp(t testing.TB, name string) {
	t.Helper()
	ipv6 := n.readSysctl("net/ipv6/conf/"+name+"/disable_ipv6") == "0"
	Eventually(t, 10*time.Second, Check(name+" did not come up", func() bool {
		l, ok := n.Link(t, name)
		if !ok || l.OperState != "UP" {
			return false
		}
		if !ipv6 {
			return true
		}
		for _, a := range l.AddrInfo {
			if a.Scope == "link" && strings.HasPrefix(a.Local, "fe80:") {
				return true
			}
		}
		return false
	}))
}

// readSysctl reads /proc/sys/<path> as seen from inside the namespace, ""
// if it does not exist.
func (n *NS) readSysctl(path string) string {
	var v []byte
	_ = n.Do(func(ns.NetNS) error {
		var err error
		v, err = os.ReadFile("/proc/sys/" + path)
		return err
	})
	return strings.TrimSpace(string(v))
}

// AddManagementNIC adds a NIC like a node's management NIC: IPv4 and IPv6
// addresses, a static default route for each family and an extra route.
func (n *Node) AddManagementNIC(t testing.TB, name string) {
	t.Helper()
	n.AddNIC(t, name, "10.11.0.5/24", "fd00:11::5/64")
	n.IP(t, "route", "add", "default", "via", "10.11.0.1", "dev", name, "proto", "static")
	n.IP(t, "-6", "route", "add", "default", "via", "fd00:11::1", "dev", name, "proto", "static")
	n.IP(t, "route", "add", "192.168.77.0/24", "dev", name, "proto", "static")
}
