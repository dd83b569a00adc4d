package agent

import (
	"context"

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
	updateStatus(*v1alpha1.Node) (*v1alpha1.Node, error)
	// update writes metadata and spec: the agent's finalizer.
	update(*v1alpha1.Node) (*v1alpha1.Node, error)
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

func (c nodeClient) updateStatus(n *v1alpha1.Node) (*v1alpha1.Node, error) {
	return c.nodes.UpdateStatus(n)
}

func (c nodeClient) update(n *v1alpha1.Node) (*v1alpha1.Node, error) { return c.nodes.Update(n) }

// coreNodes reads core Nodes; kubernetes' typed NodeInterface is one.
type coreNodes interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Node, error)
}
