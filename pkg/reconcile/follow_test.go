package reconcile

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

// A recorded NIC renamed while the agent runs keeps its record, with what
// was carried for it, under its new name; on disk too.
func TestRecordFollowsARenamedNIC(t *testing.T) {
	dir := t.TempDir()
	r, err := loadUplinkRecord(dir)
	if err != nil {
		t.Fatal(err)
	}
	addr := hoststate.Addr{Prefix: netip.MustParsePrefix("10.0.0.5/24")}
	r.uplinks["eth1"] = plan.Carried{Addrs: hoststate.Addrs{addr}}
	r.uplinks["eth2"] = plan.Carried{}
	host := func(links ...hoststate.Link) *hoststate.State { return &hoststate.State{Links: links} }

	r.follow(host(hoststate.Link{Name: "eth1", Index: 3}, hoststate.Link{Name: "eth2", Index: 4}))
	// eth1 renamed lan0; eth2 gone and index 4 now another link's name
	// that harvnet records too: neither is taken for the other.
	r.uplinks["vm4"] = plan.Carried{}
	r.follow(host(hoststate.Link{Name: "lan0", Index: 3}, hoststate.Link{Name: "vm4", Index: 4}))
	if got := slices.Sorted(maps.Keys(r.uplinks)); !slices.Equal(got, []string{"eth2", "lan0", "vm4"}) {
		t.Fatalf("record %v, want eth2 (gone, not followed onto a recorded name), lan0 (renamed eth1), vm4", got)
	}
	if c := r.uplinks["lan0"]; !c.Addrs.Has(addr.Prefix) {
		t.Errorf("lan0's record lost what was carried for eth1: %+v", c)
	}
	st, _, err := checkpoint.ReadState(checkpoint.Path(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Uplinks["lan0"]; !ok {
		t.Errorf("the state file does not have lan0: %v", st.Uplinks)
	}
	if _, ok := st.Uplinks["eth1"]; ok {
		t.Errorf("the state file still has eth1")
	}

	// A name never seen with an index is not followed anywhere.
	r2, _ := loadUplinkRecord("")
	r2.uplinks["eth9"] = plan.Carried{}
	r2.follow(host(hoststate.Link{Name: "lan9", Index: 9}))
	if _, ok := r2.uplinks["eth9"]; !ok || len(r2.uplinks) != 1 {
		t.Errorf("an unseen name was moved: %v", r2.uplinks)
	}
}
