package hoststate

import (
	"fmt"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// scans are the lookups as a look at every link makes them: what the
// index must answer.
func scanLink(s *State, name string) (Link, bool) {
	for _, l := range s.Links {
		if l.Name == name {
			return l, true
		}
	}
	return Link{}, false
}

func scanPorts(s *State, master string, keep func(Link) bool) []Link {
	m, ok := scanLink(s, master)
	if !ok {
		return nil
	}
	var out []Link
	for _, l := range s.Links {
		if l.MasterIndex == m.Index && keep(l) {
			out = append(out, l)
		}
	}
	slices.SortStableFunc(out, func(a, b Link) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func randomLinks(r *rand.Rand) []Link {
	var links []Link
	n := r.Intn(40)
	for i := 1; i <= n; i++ {
		links = append(links, Link{Name: fmt.Sprintf("l%d", r.Intn(2*n+1)), Index: i, Type: []string{"veth", "device", "bond", "bridge"}[r.Intn(4)],
			MTU: []int{1500, 9000}[r.Intn(2)], MasterIndex: r.Intn(4)})
		if r.Intn(20) == 0 {
			on := r.Intn(2) == 0
			links[len(links)-1].VLANFiltering = &on
		}
	}
	return links
}

// The index answers every lookup as a scan of every link does, names
// appearing twice included (the first wins, as in a scan).
func TestIndexMatchesScans(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for c := 0; c < 500; c++ {
		s := &State{Links: randomLinks(r)}
		for i := 0; i < 50; i++ {
			name, master := fmt.Sprintf("l%d", r.Intn(90)), fmt.Sprintf("l%d", r.Intn(90))
			gl, gok := s.Link(name)
			wl, wok := scanLink(s, name)
			if gok != wok || !reflect.DeepEqual(gl, wl) {
				t.Fatalf("Link(%s) = %v %v, a scan finds %v %v", name, gl, gok, wl, wok)
			}
			if got, want := s.Ports(master), scanPorts(s, master, func(Link) bool { return true }); !reflect.DeepEqual(got, want) {
				t.Fatalf("Ports(%s) = %v, a scan finds %v", master, got, want)
			}
			isDev := func(l Link) bool { return l.Type == "device" || l.Type == "bond" }
			if got, want := s.PortsOfType(master, "device", "bond"), scanPorts(s, master, isDev); !reflect.DeepEqual(got, want) {
				t.Fatalf("PortsOfType(%s) = %v, a scan finds %v", master, got, want)
			}
			without := func(l Link) bool { return l.MTU != 9000 }
			if got, want := s.PortsWithoutMTU(master, 9000), scanPorts(s, master, without); !reflect.DeepEqual(got, want) {
				t.Fatalf("PortsWithoutMTU(%s) = %v, a scan finds %v", master, got, want)
			}
			m, mok := scanLink(s, master)
			want := gok && mok && gl.MasterIndex == m.Index
			if got := s.IsPortOf(name, master); got != want {
				t.Fatalf("IsPortOf(%s, %s) = %v, want %v", name, master, got, want)
			}
		}
		for i := 0; i < r.Intn(60); i++ {
			s.Routes = append(s.Routes, Route{LinkIndex: r.Intn(45), Table: []int{254, 254, 100, 255}[r.Intn(4)], Priority: i})
		}
		var tables []int
		for _, rt := range s.Routes {
			if !slices.Contains(tables, rt.Table) {
				tables = append(tables, rt.Table)
			}
		}
		if got := s.RouteTables(); !slices.Equal(got, tables) {
			t.Fatalf("RouteTables() = %v, a scan finds %v", got, tables)
		}
		for idx := 0; idx < 45; idx++ {
			var want []Route
			for _, rt := range s.Routes {
				if rt.LinkIndex == idx {
					want = append(want, rt)
				}
			}
			if got := s.RoutesOfIndex(idx); !slices.Equal(got, want) {
				t.Fatalf("RoutesOfIndex(%d) = %v, a scan finds %v", idx, got, want)
			}
			if l, ok := scanLink(s, fmt.Sprintf("l%d", idx)); ok {
				if got, want := s.RoutesOf(l.Name), s.RoutesOfIndex(l.Index); !slices.Equal(got, want) {
					t.Fatalf("RoutesOf(%s) = %v, want %v", l.Name, got, want)
				}
			}
		}
		if got, want := s.FiltersVLANs(), slices.ContainsFunc(s.Links, filters); got != want {
			t.Fatalf("FiltersVLANs() = %v, a scan finds %v", got, want)
		}
		for idx := 0; idx < 45; idx++ {
			gl, gok := s.LinkByIndex(idx)
			wok := idx >= 1 && idx <= len(s.Links)
			if gok != wok || wok && gl.Index != idx {
				t.Fatalf("LinkByIndex(%d) = %v %v", idx, gl, gok)
			}
		}
	}
}

// A state shares the index of the one it was made from only while what
// the index knows is the same; a copy given other links builds its own.
func TestShareIndex(t *testing.T) {
	base := &State{Links: []Link{
		{Name: "br0", Index: 1, Type: "bridge"},
		{Name: "eth0", Index: 2, Type: "device", MasterIndex: 1, MTU: 1500},
		{Name: "vm0", Index: 3, Type: "veth", MasterIndex: 1, MTU: 1500},
	}}
	base.Ports("br0") // builds the index
	same := &State{Links: base.Links}
	if !same.ShareIndex(base, nil) || same.loadIndex() != base.loadIndex() {
		t.Fatal("a state with the very same links did not share the index")
	}
	carrier := &State{Links: slices.Clone(base.Links)}
	carrier.Links[1].Carrier = true
	if !carrier.ShareIndex(base, []int{1}) {
		t.Fatal("a carrier change is not something the index knows, yet it was not shared")
	}
	if l, _ := carrier.Link("eth0"); !l.Carrier {
		t.Fatal("the shared index answered with the old state's link")
	}
	for _, change := range []func(*Link){
		func(l *Link) { l.Name = "eth9" },
		func(l *Link) { l.MasterIndex = 0 },
		func(l *Link) { l.Type = "bond" },
		func(l *Link) { l.MTU = 9000 },
		func(l *Link) { on := true; l.VLANFiltering = &on },
	} {
		s := &State{Links: slices.Clone(base.Links)}
		change(&s.Links[1])
		if s.ShareIndex(base, []int{1}) {
			t.Fatalf("shared an index that no longer matches: %+v", s.Links[1])
		}
		if got, want := s.Ports("br0"), scanPorts(s, "br0", func(Link) bool { return true }); !reflect.DeepEqual(got, want) {
			t.Fatalf("Ports = %v, want %v", got, want)
		}
		if got, want := s.FiltersVLANs(), filters(s.Links[1]); got != want {
			t.Fatalf("FiltersVLANs() = %v, want %v", got, want)
		}
	}
	// The route index goes with the very same routes only.
	base.Routes = []Route{{LinkIndex: 2}, {LinkIndex: 3}}
	base.RoutesOfIndex(2)
	same.Routes = base.Routes
	same.ShareRouteIndex(base)
	if same.loadRouteIndex() == nil || same.loadRouteIndex() != base.loadRouteIndex() {
		t.Fatal("the same routes did not share the route index")
	}
	other := &State{Routes: []Route{{LinkIndex: 2}, {LinkIndex: 2}}}
	other.ShareRouteIndex(base)
	if other.loadRouteIndex() != nil || len(other.RoutesOfIndex(2)) != 2 {
		t.Fatalf("other routes took the route index: %v", other.RoutesOfIndex(2))
	}
	// A copy of a State (the index comes along) given other links.
	cp := *base.Copy()
	cp.idx.Store(base.loadIndex())
	cp.Links = []Link{{Name: "br0", Index: 1, Type: "bridge"}, {Name: "vm7", Index: 9, MasterIndex: 1}}
	if got := cp.Ports("br0"); len(got) != 1 || got[0].Name != "vm7" {
		t.Fatalf("a copy given other links answered from the old index: %v", got)
	}
}

// Copy copies every exported field: a field added to State and not to
// Copy would be lost by it.
func TestCopyKeepsEveryField(t *testing.T) {
	one := 1
	s := &State{}
	v := reflect.ValueOf(s).Elem()
	for i := 0; i < v.NumField(); i++ {
		if f := v.Field(i); f.CanSet() {
			switch f.Kind() {
			case reflect.String:
				f.SetString("x")
			default:
				f.Set(reflect.New(f.Type()).Elem())
				switch f.Kind() {
				case reflect.Slice:
					f.Set(reflect.MakeSlice(f.Type(), 1, 1))
				case reflect.Map:
					f.Set(reflect.MakeMap(f.Type()))
				case reflect.Pointer:
					f.Set(reflect.New(f.Type().Elem()))
				default:
					t.Fatalf("field %s: kind %s not covered by this test", v.Type().Field(i).Name, f.Kind())
				}
			}
		}
	}
	s.BridgeNFCallIPTables = &one
	c := s.Copy()
	cv := reflect.ValueOf(c).Elem()
	for i := 0; i < v.NumField(); i++ {
		if v.Field(i).CanSet() && !reflect.DeepEqual(v.Field(i).Interface(), cv.Field(i).Interface()) {
			t.Errorf("Copy lost field %s", v.Type().Field(i).Name)
		}
	}
}
