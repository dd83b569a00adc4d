package agent

import (
	"context"
	"fmt"
	"k8s.io/client-go/tools/record"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

const nodeName = "node1"

var nodesResource = schema.GroupResource{Group: v1alpha1.SchemeGroupVersion.Group, Resource: "nodes"}

func conflict() error {
	return apierrors.NewConflict(nodesResource, nodeName, fmt.Errorf("the object has been modified"))
}

func notFound() error { return apierrors.NewNotFound(nodesResource, nodeName) }

func unavailable() error {
	return apierrors.NewServiceUnavailable("etcdserver: leader changed")
}

// fakeAPI is the API server and informer cache for one Node object. It
// logs every call in a line a test can compare.
type fakeAPI struct {
	mu         sync.Mutex
	cache      *v1alpha1.Node // what the informer holds; nil: not found
	cacheErr   error
	server     *v1alpha1.Node // what the API server holds
	statusErrs []error        // answers to the next updateStatus calls; then success
	updateErrs []error        // the same for update
	log        []string
	// called receives every call as logged, for tests that wait on the
	// writer's goroutine; nil: not sent.
	called chan string
	// hold, when set, keeps updateStatus from answering until it is closed.
	hold chan struct{}
	// cacheFollows: the informer sees each write at once (else the cache
	// keeps what the test put there).
	cacheFollows bool
}

func (f *fakeAPI) record(s string) {
	f.log = append(f.log, s)
	if f.called != nil {
		f.called <- s
	}
}

func (f *fakeAPI) cached() (*v1alpha1.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("cached")
	if f.cacheErr != nil {
		return nil, f.cacheErr
	}
	if f.cache == nil {
		return nil, notFound()
	}
	return f.cache.DeepCopy(), nil
}

func (f *fakeAPI) live() (*v1alpha1.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("live")
	if f.server == nil {
		return nil, notFound()
	}
	return f.server.DeepCopy(), nil
}

func (f *fakeAPI) patchStatus(_, n *v1alpha1.Node) (*v1alpha1.Node, error) {
	f.mu.Lock()
	f.record(fmt.Sprintf("updateStatus gen=%d rv=%s", n.Status.ObservedGeneration, n.ResourceVersion))
	hold := f.hold
	f.mu.Unlock()
	if hold != nil {
		<-hold
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.statusErrs) > 0 {
		err := f.statusErrs[0]
		f.statusErrs = f.statusErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	return f.store(n), nil
}

func (f *fakeAPI) patchFinalizers(_, n *v1alpha1.Node) (*v1alpha1.Node, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(fmt.Sprintf("update finalizers=%v", n.Finalizers))
	if len(f.updateErrs) > 0 {
		err := f.updateErrs[0]
		f.updateErrs = f.updateErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	return f.store(n), nil
}

// store keeps n as the server's object with the next resourceVersion.
func (f *fakeAPI) store(n *v1alpha1.Node) *v1alpha1.Node {
	c := n.DeepCopy()
	rv, _ := strconv.Atoi(c.ResourceVersion)
	c.ResourceVersion = strconv.Itoa(rv + 1)
	f.server = c
	if f.cacheFollows {
		f.cache = c.DeepCopy()
	}
	return c.DeepCopy()
}

func (f *fakeAPI) calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.log...)
}

// node is this node's object at resourceVersion rv.
func node(rv string, mutate ...func(*v1alpha1.Node)) *v1alpha1.Node {
	n := &v1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, ResourceVersion: rv}}
	for _, m := range mutate {
		m(n)
	}
	return n
}

func deleting(n *v1alpha1.Node) {
	t := metav1.NewTime(time.Unix(1_700_000_000, 0))
	n.DeletionTimestamp = &t
}

func finalizers(f ...string) func(*v1alpha1.Node) {
	return func(n *v1alpha1.Node) { n.Finalizers = f }
}

// fakeCore answers for core Nodes: this node's exists, or the error.
type fakeCore struct {
	exists bool
	err    error
	asked  []string
}

func (f *fakeCore) Get(_ context.Context, name string, _ metav1.GetOptions) (*corev1.Node, error) {
	f.asked = append(f.asked, name)
	switch {
	case f.err != nil:
		return nil, f.err
	case f.exists && name == nodeName:
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, name)
}

// recorded drains the Events a fake recorder holds.
func recorded(rec *record.FakeRecorder) []string {
	var got []string
	for len(rec.Events) > 0 {
		got = append(got, <-rec.Events)
	}
	return got
}
