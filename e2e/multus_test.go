package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// A cluster without Multus serves no NetworkAttachmentDefinition type. The
// controller must not wait for a NAD cache that never syncs, and notices
// the type going away while it runs (this test deletes it under a running
// controller): it says so in the ClusterNetwork's status.nads, the agent
// makes the node match its spec with no NAD VLANs and says why in
// VLANsReady, and both pick the NADs up once the type is served again.
func TestWithoutTheNADType(t *testing.T) {
	fresh(t)
	crd := filepath.Join(cluster.Root, "crds", "k8s.cni.cncf.io_network-attachment-definitions.yaml")
	if _, err := cluster.Kubectl("delete", "-f", crd, "--wait"); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		for _, args := range [][]string{
			{"apply", "-f", crd},
			{"wait", "--for", "condition=Established", "crd", "network-attachment-definitions.k8s.cni.cncf.io", "--timeout", "60s"},
		} {
			if _, err := cluster.Kubectl(args...); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Cleanup(restore) // the tests after this one need the type
	eventually(t, wait, func() string {
		if _, err := cluster.Kube.Discovery().ServerResourcesForGroupVersion("k8s.cni.cncf.io/v1"); !apierrors.IsNotFound(err) {
			return "the API server still serves k8s.cni.cncf.io/v1"
		}
		return ""
	})

	n1, err := cluster.AddNode(ctx(t), "n1")
	if err != nil {
		t.Fatal(err)
	}
	enable(t, "eth1", n1)
	vlansSay := func(want string) func() string {
		return func() string {
			n, err := cluster.HNode(t, "n1")
			if err != nil {
				return err.Error()
			}
			c := meta.FindStatusCondition(n.Status.Conditions, v1alpha1.ConditionVLANsReady)
			if c == nil || !strings.Contains(c.Message, want) {
				return fmt.Sprintf("VLANsReady does not say %q: %+v", want, c)
			}
			return ""
		}
	}
	eventually(t, wait, vlansSay("the cluster serves no NetworkAttachmentDefinitions"))

	restore()
	cluster.CreateNAD(t, "vms", `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":100}`)
	// The controller asks discovery again every 10 s; on this kernel VLANsReady then names
	// the VLAN it cannot apply, on a full one status lists it.
	eventually(t, wait, func() string {
		n, err := cluster.HNode(t, "n1")
		if err != nil {
			return err.Error()
		}
		if len(n.Status.NetworkIDs) == 1 && n.Status.NetworkIDs[0] == 100 {
			return ""
		}
		return vlansSay("[100]")()
	})
}
