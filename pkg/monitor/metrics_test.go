package monitor

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/metrics"
)

// linkUpdate is what the monitor reads of a link event about l.
func linkUpdate(msg uint16, family uint8, l netlink.Link) linkMsg {
	return linkMsg{typ: msg, family: family, index: l.Attrs().Index, name: []byte(l.Attrs().Name), kind: l.Type()}
}

// The filter's verdicts, counted: every event is counted once, and those
// about unmanaged links (a VM's veth, its bridge port notification, its
// addresses) also as ignored. No kernel: the events are built here.
func TestMonitorCountsEvents(t *testing.T) {
	m := New(netns.None(), func(name, kind string) bool { return name == "br0" || kind == "device" })
	met := metrics.NewAgent(prometheus.NewRegistry())
	m.WithMetrics(met)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0", Index: 5}}
	vm := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vm1", Index: 9}}
	m.onLink(linkUpdate(unix.RTM_NEWLINK, unix.AF_UNSPEC, br), true)                                                                   // managed
	m.onLink(linkUpdate(unix.RTM_NEWLINK, unix.AF_UNSPEC, vm), true)                                                                   // ignored
	m.onLink(linkUpdate(unix.RTM_NEWLINK, unix.AF_BRIDGE, &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "vm1", Index: 9}}), true) // a port notification: no kind, ignored
	m.onIndex(9)                                                                                                                       // the VM's address: ignored
	m.onIndex(5)                                                                                                                       // the bridge's route: managed
	m.onIndex(42)                                                                                                                      // an unknown link: counted as managed, to be safe
	if got := testutil.ToFloat64(met.NetlinkEvents); got != 6 {
		t.Errorf("events %v, want 6", got)
	}
	if got := testutil.ToFloat64(met.NetlinkEventsIgnored); got != 3 {
		t.Errorf("ignored events %v, want 3", got)
	}
	if seen, ignored := m.Stats(); seen != 6 || ignored != 3 {
		t.Errorf("Stats %d/%d, want 6/3: the metrics and Stats disagree", seen, ignored)
	}
}
