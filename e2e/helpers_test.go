package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

const bridge = "harvester-br0"

func hnode(t *testing.T, name string) (*v1alpha1.Node, error) {
	return cluster.Net.NetworkV1alpha1().Nodes().Get(ctx(t), name, metav1.GetOptions{})
}

func condition(n *v1alpha1.Node, typ string) metav1.Condition {
	for _, c := range n.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return metav1.Condition{Type: typ, Status: "absent"}
}

// conditionIs says "" when the node's condition has that status and reason.
func conditionIs(t *testing.T, name, typ string, status metav1.ConditionStatus, reason string) string {
	n, err := hnode(t, name)
	if err != nil {
		return err.Error()
	}
	c := condition(n, typ)
	if c.Status != status || (reason != "" && c.Reason != reason) {
		return fmt.Sprintf("%s %s is %s/%s (%s), want %s/%s", name, typ, c.Status, c.Reason, c.Message, status, reason)
	}
	return ""
}

// kernelLink is what `ip -j -d addr show` says of a link in a node.
type kernelLink struct {
	Index    int      `json:"ifindex"`
	Name     string   `json:"ifname"`
	Flags    []string `json:"flags"`
	Master   string   `json:"master"`
	AddrInfo []struct {
		Local     string `json:"local"`
		PrefixLen int    `json:"prefixlen"`
		Scope     string `json:"scope"`
	} `json:"addr_info"`
}

func (l kernelLink) addrs() []string {
	var out []string
	for _, a := range l.AddrInfo {
		if a.Scope == "global" {
			out = append(out, fmt.Sprintf("%s/%d", a.Local, a.PrefixLen))
		}
	}
	slices.Sort(out)
	return out
}

func (l kernelLink) up() bool { return slices.Contains(l.Flags, "UP") }

func link(n *framework.RunningNode, name string) (kernelLink, bool) {
	out, err := n.IP("-j", "-d", "addr", "show", "dev", name)
	if err != nil {
		return kernelLink{}, false
	}
	var ls []kernelLink
	if json.Unmarshal([]byte(out), &ls) != nil || len(ls) != 1 {
		return kernelLink{}, false
	}
	return ls[0], true
}

// enslaved says "" when nic is up and enslaved to the bridge.
func enslaved(n *framework.RunningNode, nic string) string {
	l, ok := link(n, nic)
	if !ok || l.Master != bridge || !l.up() {
		return fmt.Sprintf("%s: %s is not an up port of %s (master %q)", n.Name, nic, bridge, l.Master)
	}
	return ""
}

func hasDefaultRoute(n *framework.RunningNode, dev string) bool {
	out, _ := n.IP("route", "show", "default", "dev", dev)
	return strings.Contains(out, "via "+framework.Gateway4)
}

// snapshot is what must not change when nothing should: links with their
// indexes, masters and addresses, and the routes.
func snapshot(t *testing.T, n *framework.RunningNode) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{{"-o", "link"}, {"-br", "addr"}, {"route"}, {"-6", "route"}} {
		out, err := n.IP(args...)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(out)
	}
	return b.String()
}
