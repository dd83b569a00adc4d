package netnstest

import (
	"fmt"
	"os/exec"
	"strings"

	"github.com/containernetworking/plugins/pkg/ns"
)

// NewNamedNS creates the namespace /run/netns/<name> with loopback up, for
// namespaces that outlive a test and are shown to people by name: the e2e
// framework's nodes and switch, which the demo builds too. One left over
// from a killed run is replaced. Remove deletes it.
func NewNamedNS(name string) (*NS, error) {
	_ = exec.Command("ip", "netns", "del", name).Run() // left over, if any
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("ip netns add %s: %v: %s", name, err, strings.TrimSpace(string(out)))
	}
	h, err := ns.GetNS("/run/netns/" + name)
	if err != nil {
		_ = unmountNS("/run/netns/" + name)
		return nil, err
	}
	n := &NS{NetNS: h, Name: name}
	if _, err := n.TryIP("link", "set", "lo", "up"); err != nil {
		n.Remove()
		return nil, err
	}
	// As in NewNS: each link's own accept_dad decides.
	_ = n.writeSysctl("net/ipv6/conf/all/accept_dad", "0")
	return n, nil
}

// Remove closes the namespace and deletes its name; with no process left
// inside it, the kernel then frees it and every link in it. Nil-safe.
func (n *NS) Remove() error {
	if n == nil {
		return nil
	}
	n.Close()
	return unmountNS(n.Path())
}
