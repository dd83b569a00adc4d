package plan

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"sort"
	"testing"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

// releasableScan is releasable as it was, looking at every bridge port:
// the reference the indexed one must equal.
func releasableScan(in Input) []hoststate.Link {
	known := map[string]bool{}
	for _, n := range in.Enslaved {
		known[n] = true
	}
	var out []hoststate.Link
	isPort := map[string]bool{}
	for _, p := range portsScan(in.Host, in.Desired.Bridge) {
		isPort[p.Name] = true
		if bondHandles(in, p) {
			continue
		}
		if known[p.Name] || in.Foreign == "" && (p.Type == "device" || p.Type == "bond") {
			out = append(out, p)
		}
	}
	for name, c := range in.Carried {
		if l, ok := in.Host.Link(name); ok && !isPort[name] && name != in.Desired.Uplink && !c.empty() && !bondHandles(in, l) {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// mtuActionsScan is mtuActions as it was, looking at every bridge port.
func mtuActionsScan(in Input) []Action {
	m := in.Desired.MTU
	if m == 0 {
		return nil
	}
	var nics, vms []Action
	set := func(to *[]Action, l hoststate.Link) {
		if l.MTU != m {
			*to = append(*to, Action{Op: SetMTU, Link: l.Name, MTU: m})
		}
	}
	uplinks := map[string]bool{}
	if b := in.Desired.Bond; b != nil {
		uplinks[b.Name] = true
		if l, ok := in.Host.Link(b.Name); ok {
			set(&nics, l)
		}
		for _, n := range b.Slaves {
			uplinks[n] = true
			if l, ok := in.Host.Link(n); ok {
				if bl, ok := in.Host.Link(b.Name); !ok || bl.MTU == m {
					set(&nics, l)
				}
			}
		}
	} else if u := in.Desired.Uplink; u != "" {
		uplinks[u] = true
		if l, ok := in.Host.Link(u); ok {
			set(&nics, l)
		}
	}
	br, exists := bridge(in)
	if !exists {
		br.MTU = 1500
	}
	set(&vms, br)
	if exists {
		releasing := map[string]bool{}
		for _, p := range releasableScan(in) {
			releasing[p.Name] = true
		}
		for _, p := range portsScan(in.Host, br.Name) {
			if !uplinks[p.Name] && !releasing[p.Name] {
				set(&vms, p)
			}
		}
	}
	if m < br.MTU {
		return append(vms, nics...)
	}
	return append(nics, vms...)
}

// portsScan is the ports of master by a scan of every link.
func portsScan(h *hoststate.State, master string) []hoststate.Link {
	var m *hoststate.Link
	for i := range h.Links {
		if h.Links[i].Name == master {
			m = &h.Links[i]
			break
		}
	}
	if m == nil {
		return nil
	}
	var out []hoststate.Link
	for _, l := range h.Links {
		if l.MasterIndex == m.Index {
			out = append(out, l)
		}
	}
	slices.SortStableFunc(out, func(a, b hoststate.Link) int { return compareNames(a.Name, b.Name) })
	return out
}

func compareNames(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// randomInput is a node with a bridge (sometimes absent, foreign or not a
// bridge), VM ports, NICs and bonds on and off it, with random MTUs, and
// a spec and a state file that name some of them.
func randomInput(r *rand.Rand) Input {
	h := &hoststate.State{}
	idx := 1
	add := func(l hoststate.Link) hoststate.Link {
		l.Index = idx
		idx++
		h.Links = append(h.Links, l)
		return l
	}
	add(hoststate.Link{Name: "lo", Type: "device", Loopback: true, MTU: 65536})
	br := hoststate.Link{Name: "br0", Type: "bridge", MTU: 1500, Alias: OwnerAlias, AdminUp: true}
	switch r.Intn(6) {
	case 0: // no bridge
	case 1:
		br.Type = "bond"
		br = add(br)
	default:
		br = add(br)
	}
	mtu := func() int { return []int{1500, 1500, 1500, 9000, 1400}[r.Intn(5)] }
	master := func() int {
		if br.Index != 0 && r.Intn(3) > 0 {
			return br.Index
		}
		return 0
	}
	var nics []string
	for i := 0; i < r.Intn(4); i++ {
		l := add(hoststate.Link{Name: fmt.Sprintf("eth%d", i), Type: "device", MTU: mtu(), MasterIndex: master()})
		nics = append(nics, l.Name)
	}
	bond := add(hoststate.Link{Name: "bo0", Type: "bond", MTU: mtu(), MasterIndex: master(), Alias: OwnerAlias, Bond: &hoststate.Bond{Mode: "active-backup"}})
	if len(nics) > 0 && r.Intn(2) == 0 {
		h.Links[len(h.Links)-2].MasterIndex = bond.Index // the last NIC: a slave of the bond
	}
	for i := 0; i < r.Intn(30); i++ {
		add(hoststate.Link{Name: fmt.Sprintf("vm%d", r.Intn(1000)*100+i), Type: "veth", MTU: mtu(), MasterIndex: master()})
	}
	pick := func() string {
		if len(h.Links) == 0 {
			return ""
		}
		return h.Links[r.Intn(len(h.Links))].Name
	}
	d := desired.State{Bridge: "br0", BondName: "bo0", MTU: []int{0, 1500, 9000}[r.Intn(3)]}
	switch r.Intn(3) {
	case 0:
		d.Uplink = pick()
	case 1:
		d.Uplink = "bo0"
		d.Bond = &desired.Bond{Name: "bo0", Slaves: []string{pick(), pick()}, Mode: "active-backup"}
	}
	in := Input{Desired: d, Host: h, Carried: map[string]Carried{}}
	for i := 0; i < r.Intn(4); i++ {
		in.Enslaved = append(in.Enslaved, pick())
	}
	for i := 0; i < r.Intn(3); i++ {
		c := Carried{}
		if r.Intn(2) == 0 {
			c.Addrs = hoststate.Addrs{{Scope: 0}}
		}
		in.Carried[pick()] = c
	}
	if r.Intn(5) == 0 {
		in.Foreign = "not harvnet's"
	}
	return in
}

// The bridge's uplinks and the VM ports an MTU change sets are found by
// name, kind and MTU, not by looking at every port: on generated nodes
// they, and so the plan, are what a look at every port finds.
func TestIndexedPortScansMatchFullScans(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	nonEmpty := 0
	for i := 0; i < 3000; i++ {
		in := randomInput(r)
		if got, want := releasable(in), releasableScan(in); !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: releasable:\n got  %v\n want %v\n input %+v", i, names(got), names(want), in)
		}
		got, want := mtuActions(in), mtuActionsScan(in)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("case %d: MTU actions:\n got  %v\n want %v", i, strs(got), strs(want))
		}
		if !reflect.DeepEqual(Compute(in), computeScan(in)) {
			t.Fatalf("case %d: the plan differs from one made by looking at every port", i)
		}
		if len(want) > 2 {
			nonEmpty++
		}
	}
	if nonEmpty < 100 {
		t.Fatalf("only %d generated nodes had VM ports to set the MTU of: the comparison says little", nonEmpty)
	}
}

// computeScan is Compute with the uplink step's port scans as they were.
func computeScan(in Input) Plan {
	p := Compute(in)
	for i := range p {
		if p[i].Phase != PhaseUplink || p[i].Skipped != "" || in.Desired.Teardown {
			continue
		}
		s := Step{Phase: PhaseUplink, Requires: p[i].Requires}
		for _, l := range releasableScan(in) {
			if l.Name != in.Desired.Uplink {
				s.add(releaseUplink(in, l)...)
			}
		}
		if b, ok := strayBond(in); ok {
			s.add(takeBondApart(in, b)...)
		}
		if in.Desired.Uplink != "" {
			if in.Desired.Bond != nil {
				s.add(enslave(in, bondLink(in))...)
				s.add(slaveActions(in)...)
			} else {
				nic, _ := in.Host.Link(in.Desired.Uplink)
				s.add(enslave(in, nic)...)
			}
		}
		s.add(mtuActionsScan(in)...)
		p[i].Actions = s.Actions
	}
	return p
}

func names(ls []hoststate.Link) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.Name
	}
	return out
}
