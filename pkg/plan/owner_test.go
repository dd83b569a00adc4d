package plan

import (
	"strings"
	"testing"

	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
)

func withBridgeAlias(h *hoststate.State, alias string) *hoststate.State {
	for i := range h.Links {
		if h.Links[i].Name == "br0" {
			h.Links[i].Alias = alias
		}
	}
	return h
}

func TestOwnership(t *testing.T) {
	dummy := freshHost()
	dummy.Links = append(dummy.Links, hoststate.Link{Name: "br0", Index: 3, Type: "dummy"})
	for _, c := range []struct {
		name        string
		host        *hoststate.State
		recorded    []string
		wantForeign bool
		wantMark    bool
	}{
		{"no bridge yet: harvnet will make it", freshHost(), nil, false, false},
		{"harvnet's mark", withBridgeAlias(steadyHost(), OwnerAlias), nil, false, false},
		{"harvnet's mark and a record", withBridgeAlias(steadyHost(), OwnerAlias), []string{"eth0"}, false, false},
		{"no mark, a record: an older harvnet's, to mark", steadyHost(), []string{"eth0"}, false, true},
		{"no mark, no record", steadyHost(), nil, true, false},
		{"someone else's alias, no record", withBridgeAlias(steadyHost(), "made by hand"), nil, true, false},
		{"not a bridge: the bridge step refuses it", dummy, nil, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			foreign, mark := Ownership(c.host, "br0", c.recorded)
			if (foreign != "") != c.wantForeign || mark != c.wantMark {
				t.Fatalf("Ownership = %q, %v; want foreign %v, mark %v", foreign, mark, c.wantForeign, c.wantMark)
			}
			if c.wantForeign {
				for _, want := range []string{"br0", "is not harvnet's", "ip link del br0", "ip link set dev br0 alias harvnet"} {
					if !strings.Contains(foreign, want) {
						t.Errorf("%q lacks %q", foreign, want)
					}
				}
			}
		})
	}
}

// A foreign bridge holding the management NIC (a physical one, which an
// owned bridge's teardown would release) is not changed, torn down or
// released, and every step says why.
func TestComputeForeignBridge(t *testing.T) {
	foreign, _ := Ownership(steadyHost(), "br0", nil)
	for _, d := range []desired.State{{Teardown: true}, {Uplink: "eth0"}, {Uplink: "eth1", VLANs: []int{10}}} {
		p := Compute(Input{Desired: want(d), Host: steadyHost(), Foreign: foreign})
		if !p.Empty() {
			t.Errorf("%+v: plan changes a foreign bridge: %+v", d, p)
		}
		br := step(t, p, PhaseBridge)
		if br.Skipped != foreign || br.Reason != ReasonNotOwned {
			t.Errorf("%+v: bridge step skipped %q reason %q, want the foreign sentence and %s", d, br.Skipped, br.Reason, ReasonNotOwned)
		}
		if d.Teardown {
			continue
		}
		for _, ph := range []Phase{PhaseUplink, PhaseVLANs, PhaseDHCP, PhaseBridgeNF} {
			if s := step(t, p, ph); s.Reason != ReasonNotOwned || !strings.Contains(s.Skipped, "is not harvnet's") {
				t.Errorf("%+v: %s step skipped %q reason %q, want it blocked by the foreign bridge", d, ph, s.Skipped, s.Reason)
			}
		}
	}
}

func TestComputeMarksAnOlderHarvnetsBridge(t *testing.T) {
	p := Compute(Input{Desired: want(desired.State{Uplink: "eth0", VLANs: []int{10, 20}}), Host: steadyHost(), Enslaved: []string{"eth0"}, MarkBridge: true})
	assertActions(t, "Bridge", step(t, p, PhaseBridge).Actions, []Action{{Op: SetAlias, Link: "br0", Alias: OwnerAlias}})
	fresh := Compute(Input{Desired: want(desired.State{Uplink: "eth0"}), Host: freshHost(), MarkBridge: true})
	for _, a := range step(t, fresh, PhaseBridge).Actions {
		if a.Op == SetAlias {
			t.Errorf("a bridge still to be created gets a separate mark: %v (it is created marked)", a)
		}
	}
}
