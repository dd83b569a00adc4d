package reconcile_test

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/status"
)

// TestBridgeConditionMatchesTheKernel: right after enabling (no NAD, so no
// VLAN ID wanted) BridgeReady must say what `ip -d link` shows: on a kernel
// without bridge VLAN filtering, up without vlan_filtering and why; never
// "vlan_filtering on" because the bridge step had nothing left to do.
func TestBridgeConditionMatchesTheKernel(t *testing.T) {
	f := newFixture(t)
	f.node.AddNIC(t, "eth1")
	res := f.reconcile(t, vlanSpec("eth1"))
	c := meta.FindStatusCondition(status.Build(res, testOpts, 1).Conditions, v1alpha1.ConditionBridgeReady)
	if c == nil {
		t.Fatal("no BridgeReady condition")
	}
	vf := f.link(t, br).LinkInfo.Data.VLANFiltering
	on := vf != nil && *vf == 1
	if nt.KernelHasVLANFiltering(t) != on {
		t.Fatalf("ip -d link shows vlan_filtering %v on %s, but the kernel can do it: %v", vf, br, !on)
	}
	if on {
		if c.Status != metav1.ConditionTrue || !strings.Contains(c.Message, "vlan_filtering on") {
			t.Errorf("BridgeReady = %s/%s %q, want True saying vlan_filtering is on", c.Status, c.Reason, c.Message)
		}
		return
	}
	if c.Status != metav1.ConditionFalse || c.Reason != status.ReasonUnsupported ||
		!strings.Contains(c.Message, "without vlan_filtering") || !strings.Contains(c.Message, "CONFIG_BRIDGE_VLAN_FILTERING") {
		t.Errorf("BridgeReady = %s/%s %q, want False/Unsupported saying the bridge has no vlan_filtering and why", c.Status, c.Reason, c.Message)
	}
	if f.link(t, "eth1").Master != br {
		t.Error("the uplink was not enslaved although only VLAN filtering is missing")
	}
}
