package framework

import (
	"context"
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	cniv1 "github.com/harvnet/harvnet/pkg/apis/k8s.cni.cncf.io/v1"
)

// NADs writes NetworkAttachmentDefinitions as a user would. harvnet only
// reads NADs (another project owns the type), so it generates no clientset
// for them; the tests write through the dynamic client.
type NADs struct {
	c dynamic.NamespaceableResourceInterface
}

var nadResource = schema.GroupVersionResource{Group: cniv1.SchemeGroupVersion.Group, Version: cniv1.SchemeGroupVersion.Version, Resource: "network-attachment-definitions"}

// NewNADs returns a NAD writer for cfg's cluster.
func NewNADs(cfg *rest.Config) (*NADs, error) {
	d, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &NADs{c: d.Resource(nadResource)}, nil
}

// Create makes a NAD with this CNI config in "default".
func (n *NADs) Create(ctx context.Context, name, config string) error {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": cniv1.SchemeGroupVersion.String(),
		"kind":       "NetworkAttachmentDefinition",
		"metadata":   map[string]any{"name": name, "namespace": "default"},
		"spec":       map[string]any{"config": config},
	}}
	_, err := n.c.Namespace("default").Create(ctx, u, metav1.CreateOptions{})
	return err
}

// SetConfig changes a NAD's CNI config in "default", as an edit would.
func (n *NADs) SetConfig(ctx context.Context, name, config string) error {
	p, err := json.Marshal(map[string]any{"spec": map[string]any{"config": config}})
	if err != nil {
		return err
	}
	_, err = n.c.Namespace("default").Patch(ctx, name, types.MergePatchType, p, metav1.PatchOptions{})
	return err
}

// Delete removes a NAD from "default".
func (n *NADs) Delete(ctx context.Context, name string) error {
	return n.c.Namespace("default").Delete(ctx, name, metav1.DeleteOptions{})
}

// DeleteAll removes every NAD from "default".
func (n *NADs) DeleteAll(ctx context.Context) error {
	return n.c.Namespace("default").DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
}
