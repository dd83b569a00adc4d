package hostloop

import (
	"testing"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
)

func TestWatchedIgnoresWhatHarvnetDoesNotManage(t *testing.T) {
	l := &Loop{cfg: Config{Options: desired.Options{BridgeName: "harvester-br0", UplinkTypes: []string{"device", "bond"}}}, kick: make(chan struct{}, 1)}
	l.SetInput(desired.Input{Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: "vlan", NIC: "bond0"}}})
	for _, c := range []struct {
		name, kind string
		want       bool
	}{
		{"harvester-br0", "bridge", true},
		{"bond0", "bond", true},  // the uplink
		{"eno1", "device", true}, // a physical NIC: inventory
		{"vethabc123", "veth", false},
		{"bond1", "bond", false},
		{"user-br", "bridge", false},
		{"tap0", "tuntap", false},
	} {
		if got := l.watched(c.name, c.kind); got != c.want {
			t.Errorf("watched(%s, %s) = %v, want %v", c.name, c.kind, got, c.want)
		}
	}
}
