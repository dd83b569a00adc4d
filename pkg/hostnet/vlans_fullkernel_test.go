package hostnet

import (
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"testing"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

// The VLAN reads need bridge vlan_filtering: kernels without it skip
// these tests, the full-kernel VM (scripts/vm-test.sh) runs them. What
// readVLANs returns is checked against iproute2's `bridge -j vlan show`.

// vlanNode is a namespace with a VLAN-filtering bridge br0 and a Host on it.
type vlanNode struct {
	*nt.NS
	h *Host
}

func newVLANNode(t *testing.T) vlanNode {
	t.Helper()
	nt.RequireKernel(t, nt.KernelHasVLANFiltering(t), "bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)")
	return newBridgeNode(t, "vlan_filtering", "1")
}

// newBridgeNode is a namespace with a bridge br0 of the given options.
func newBridgeNode(t *testing.T, opts ...string) vlanNode {
	t.Helper()
	nt.RequireTool(t, "bridge")
	n := nt.NewNS(t)
	n.IP(t, append([]string{"link", "add", "br0", "type", "bridge"}, opts...)...)
	n.IP(t, "link", "set", "br0", "up")
	h, err := New(n.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return vlanNode{NS: n, h: h}
}

// port adds a veth port of br0 named name (its peer stays out of the bridge).
func (n vlanNode) port(t *testing.T, name string) int {
	t.Helper()
	n.IP(t, "link", "add", name, "type", "veth", "peer", "name", name+"p")
	n.IP(t, "link", "set", name, "master", "br0")
	return n.index(t, name)
}

func (n vlanNode) index(t *testing.T, name string) int {
	t.Helper()
	l, ok := n.Link(t, name)
	if !ok {
		t.Fatalf("no link %s", name)
	}
	return l.Index
}

func (n vlanNode) bridge(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", append([]string{"netns", "exec", n.Name, "bridge"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("bridge %v: %v: %s", args, err, out)
	}
}

// batch runs `ip` or `bridge` -batch on the commands, in the namespace.
func (n vlanNode) batch(t *testing.T, tool, cmds string) {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n.Name, tool, "-batch", "-")
	cmd.Stdin = strings.NewReader(cmds)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s -batch: %v: %s", tool, err, out)
	}
}

// shown is `bridge -j vlan show` expanded to one VLAN per VID, by ifindex.
func (n vlanNode) shown(t *testing.T) map[int][]hoststate.VLAN {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", n.Name, "bridge", "-j", "vlan", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("bridge -j vlan show: %v: %s", err, out)
	}
	var ports []struct {
		Name  string `json:"ifname"`
		VLANs []struct {
			VID   int      `json:"vlan"`
			End   int      `json:"vlanEnd"`
			Flags []string `json:"flags"`
		} `json:"vlans"`
	}
	if err := json.Unmarshal(out, &ports); err != nil {
		t.Fatalf("parsing bridge -j vlan show: %v: %s", err, out)
	}
	got := map[int][]hoststate.VLAN{}
	for _, p := range ports {
		idx := n.index(t, p.Name)
		for _, v := range p.VLANs {
			for vid := v.VID; vid <= max(v.VID, v.End); vid++ {
				got[idx] = append(got[idx], hoststate.VLAN{VID: vid,
					PVID: slices.Contains(v.Flags, "PVID") && vid == v.VID, Untagged: slices.Contains(v.Flags, "Egress Untagged")})
			}
		}
	}
	return got
}

func (n vlanNode) read(t *testing.T, ports []int) map[int][]hoststate.VLAN {
	t.Helper()
	got, err := n.h.readVLANs(ports)
	if err != nil {
		t.Fatalf("readVLANs(%v): %v", ports, err)
	}
	return got
}

func sameVLANs(t *testing.T, what string, got, want map[int][]hoststate.VLAN) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %s\nwant %s", what, brief(got), brief(want))
	}
}

// brief prints VLAN maps short enough to read when 4093 VIDs differ.
func brief(m map[int][]hoststate.VLAN) string {
	s := ""
	for _, idx := range slices.Sorted(maps.Keys(m)) {
		s += fmt.Sprintf("%d:[", idx)
		vs := m[idx]
		for i := 0; i < len(vs); {
			j := i
			for j+1 < len(vs) && vs[j+1].VID == vs[j].VID+1 && vs[j+1].PVID == vs[i].PVID && vs[j+1].Untagged == vs[i].Untagged {
				j++
			}
			s += fmt.Sprintf(" %d-%d pvid=%v untagged=%v", vs[i].VID, vs[j].VID, vs[i].PVID, vs[i].Untagged)
			i = j + 1
		}
		s += " ] "
	}
	return s
}

// Every port and the bridge itself read with one dump: a range, single
// VIDs, and a PVID with untagged VIDs beside it, as iproute2 shows them,
// and as the AF_BRIDGE link dump (the fallback, and what Observe read
// before) reports them.
func TestReadVLANsAllPorts(t *testing.T) {
	n := newVLANNode(t)
	trunk, singles, access := n.port(t, "trunk"), n.port(t, "singles"), n.port(t, "access")
	n.bridge(t, "vlan", "add", "dev", "trunk", "vid", "2-4094")
	for _, vid := range []string{"10", "12", "300", "4094"} {
		n.bridge(t, "vlan", "add", "dev", "singles", "vid", vid)
	}
	n.bridge(t, "vlan", "del", "dev", "singles", "vid", "1")
	// PVID 7 untagged, 8 untagged too (same flags, so the kernel would
	// merge it into 7's range but for the PVID), 9 tagged.
	n.bridge(t, "vlan", "add", "dev", "access", "vid", "7", "pvid", "untagged")
	n.bridge(t, "vlan", "add", "dev", "access", "vid", "8", "untagged")
	n.bridge(t, "vlan", "add", "dev", "access", "vid", "9")
	n.bridge(t, "vlan", "add", "dev", "br0", "vid", "50", "self")

	got := n.read(t, nil)
	sameVLANs(t, "readVLANs(nil) against bridge -j vlan show", got, n.shown(t))
	if len(got[trunk]) != 4094 || len(got[singles]) != 4 || len(got[access]) != 4 {
		t.Fatalf("VIDs per port: trunk %d (want 4094: 1 and 2-4094), singles %d (want 4), access %d (want 4: 1, 7, 8, 9)",
			len(got[trunk]), len(got[singles]), len(got[access]))
	}
	if want := (hoststate.VLAN{VID: 7, PVID: true, Untagged: true}); !slices.Contains(got[access], want) {
		t.Fatalf("access port: no %+v in %s", want, brief(map[int][]hoststate.VLAN{access: got[access]}))
	}
	if want := (hoststate.VLAN{VID: 8, Untagged: true}); !slices.Contains(got[access], want) {
		t.Fatalf("access port: no %+v in %s", want, brief(map[int][]hoststate.VLAN{access: got[access]}))
	}
	if n.h.vlanDBRefused.Load() {
		t.Fatal("a kernel with VLAN filtering refused RTM_GETVLAN: the fallback was read, not the VLAN database")
	}
	old, err := n.h.readVLANsLinkDump(nil)
	if err != nil {
		t.Fatal(err)
	}
	sameVLANs(t, "RTM_GETVLAN against the AF_BRIDGE link dump", got, old)
}

// One port asked for, with 100 others on the bridge: only that port comes
// back. A port that is gone, and a link that is no bridge port, are
// absent rather than an error.
func TestReadVLANsOnePort(t *testing.T) {
	n := newVLANNode(t)
	uplink := n.port(t, "uplink")
	n.bridge(t, "vlan", "add", "dev", "uplink", "vid", "100-200")
	var links, vlans strings.Builder
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&links, "link add vm%d type veth peer name vm%dp\nlink set vm%d master br0\n", i, i, i)
		fmt.Fprintf(&vlans, "vlan add dev vm%d vid %d pvid untagged\n", i, 300+i)
	}
	n.batch(t, "ip", links.String())
	n.batch(t, "bridge", vlans.String())
	want := n.shown(t)
	if len(want) != 102 {
		t.Fatalf("bridge -j vlan show lists %d links, want 102 (br0, uplink, 100 VM ports)", len(want))
	}
	sameVLANs(t, "readVLANs(uplink)", n.read(t, []int{uplink}), map[int][]hoststate.VLAN{uplink: want[uplink]})

	vm7 := n.index(t, "vm7")
	gone := n.port(t, "gone")
	notPort := n.index(t, "uplinkp") // the uplink's veth peer, in no bridge
	n.IP(t, "link", "del", "gone")
	sameVLANs(t, "readVLANs(uplink, vm7, a deleted port, a link in no bridge)", n.read(t, []int{uplink, gone, vm7, notPort}),
		map[int][]hoststate.VLAN{uplink: want[uplink], vm7: want[vm7]})
	sameVLANs(t, "readVLANs(a deleted port)", n.read(t, []int{gone}), map[int][]hoststate.VLAN{})
	sameVLANs(t, "readVLANs(no ports)", n.read(t, []int{}), map[int][]hoststate.VLAN{})
}

// setVLANs puts many ranges in one message (and several messages past
// maxVLANAttrs entries): what is left is exactly what was asked.
func TestSetVLANsRanges(t *testing.T) {
	n := newVLANNode(t)
	p := n.port(t, "uplink")
	tagged := func() []int {
		var out []int
		for _, v := range n.shown(t)[p] {
			if v.VID != 1 {
				out = append(out, v.VID)
			}
		}
		return out
	}
	ranges := []plan.Range{{From: 2, To: 2}, {From: 5, To: 9}, {From: 100, To: 100}, {From: 4000, To: 4094}}
	if err := n.h.setVLANs(p, true, ranges); err != nil {
		t.Fatal(err)
	}
	want := []int{2, 5, 6, 7, 8, 9, 100}
	for v := 4000; v <= 4094; v++ {
		want = append(want, v)
	}
	if got := tagged(); !slices.Equal(got, want) {
		t.Fatalf("after adding %v: %v", ranges, got)
	}
	if err := n.h.setVLANs(p, false, []plan.Range{{From: 5, To: 9}, {From: 4000, To: 4093}}); err != nil {
		t.Fatal(err)
	}
	if got := tagged(); !slices.Equal(got, []int{2, 100, 4094}) {
		t.Fatalf("after deleting 5-9 and 4000-4093: %v", got)
	}
	if err := n.h.setVLANs(p, false, []plan.Range{{From: 2, To: 4094}}); err != nil {
		t.Fatal(err)
	}
	// Every other VID: 2047 single VIDs, more than one message holds.
	var odd []plan.Range
	want = nil
	for v := 3; v <= 4094; v += 2 {
		odd = append(odd, plan.Range{From: v, To: v})
		want = append(want, v)
	}
	if err := n.h.setVLANs(p, true, odd); err != nil {
		t.Fatal(err)
	}
	if got := tagged(); !slices.Equal(got, want) {
		t.Fatalf("after adding the %d odd VIDs: %d VIDs, first %v", len(odd), len(got), got[:min(len(got), 5)])
	}
	sameVLANs(t, "readVLANs(uplink) with 2047 single VIDs", n.read(t, []int{p}), map[int][]hoststate.VLAN{p: n.shown(t)[p]})
	if err := n.h.setVLANs(p, false, odd); err != nil {
		t.Fatal(err)
	}
	if got := tagged(); len(got) != 0 {
		t.Fatalf("after deleting the odd VIDs: %d left", len(got))
	}
}
