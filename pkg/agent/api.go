package agent

import (
	"context"
	"encoding/json"

	jsonpatch "github.com/evanphx/json-patch"
	"k8s.io/apimachinery/pkg/types"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	nodectl "github.com/harvnet/harvnet/pkg/generated/controllers/network.harvesterhci.io/v1alpha1"
)

// nodeAPI is what the agent needs of the API server for its own Node
// object. nodeClient is the real one; unit tests use a fake.
type nodeAPI interface {
	// cached reads the object from the informer's cache.
	cached() (*v1alpha1.Node, error)
	// live reads the object from the API server, for when the cache lags.
	live() (*v1alpha1.Node, error)
	// patchStatus writes next's status as a patch against base's, and
	// patchFinalizers next's finalizers: only what changed is sent, so
	// fields this binary does not know (a newer agent's, during a rolling
	// upgrade) are kept; base's resourceVersion makes either fail with a
	// conflict rather than overwrite a newer object.
	patchStatus(base, next *v1alpha1.Node) (*v1alpha1.Node, error)
	patchFinalizers(base, next *v1alpha1.Node) (*v1alpha1.Node, error)
}

// nodeClient is nodeAPI over the generated controller of one object.
type nodeClient struct {
	name  string
	nodes nodectl.NodeController
}

func (c nodeClient) cached() (*v1alpha1.Node, error) { return c.nodes.Cache().Get(c.name) }

func (c nodeClient) live() (*v1alpha1.Node, error) {
	return c.nodes.Get(c.name, metav1.GetOptions{})
}

func (c nodeClient) patchStatus(base, next *v1alpha1.Node) (*v1alpha1.Node, error) {
	p, err := mergePatch(base.ResourceVersion, map[string]any{"status": base.Status}, map[string]any{"status": next.Status})
	if err != nil {
		return nil, err
	}
	return c.nodes.Patch(c.name, types.MergePatchType, p, "status")
}

func (c nodeClient) patchFinalizers(base, next *v1alpha1.Node) (*v1alpha1.Node, error) {
	meta := func(n *v1alpha1.Node) map[string]any {
		return map[string]any{"metadata": map[string]any{"finalizers": n.Finalizers}}
	}
	p, err := mergePatch(base.ResourceVersion, meta(base), meta(next))
	if err != nil {
		return nil, err
	}
	return c.nodes.Patch(c.name, types.MergePatchType, p)
}

// mergePatch is the JSON merge patch (RFC 7386) from old to new, with
// resourceVersion as its precondition.
func mergePatch(resourceVersion string, old, new any) ([]byte, error) {
	o, err := json.Marshal(old)
	if err != nil {
		return nil, err
	}
	n, err := json.Marshal(new)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatch.CreateMergePatch(o, n)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		return nil, err
	}
	md, _ := m["metadata"].(map[string]any)
	if md == nil {
		md = map[string]any{}
	}
	md["resourceVersion"] = resourceVersion
	m["metadata"] = md
	return json.Marshal(m)
}

// coreNodes reads core Nodes; kubernetes' typed NodeInterface is one.
type coreNodes interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Node, error)
}
