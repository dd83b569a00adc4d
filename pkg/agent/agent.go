package agent

import (
	"context"
	"fmt"
	"log/slog"
	"slices"

	"github.com/rancher/lasso/pkg/cache"
	"github.com/rancher/lasso/pkg/client"
	"github.com/rancher/lasso/pkg/controller"
	"github.com/rancher/wrangler/v3/pkg/schemes"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	netctl "github.com/harvnet/harvnet/pkg/generated/controllers/network.harvesterhci.io"
	"github.com/harvnet/harvnet/pkg/hostloop"
	"github.com/harvnet/harvnet/pkg/hostnet"
	"github.com/harvnet/harvnet/pkg/metrics"
	"github.com/harvnet/harvnet/pkg/probe"
)

// Config is what the daemon's flags set.
type Config struct {
	NodeName string
	Loop     hostloop.Config
}

// Agent is one node's agent.
type Agent struct {
	nodeName string
	loop     *hostloop.Loop
	writer   *writer
	scf      controller.SharedControllerFactory
	api      nodeAPI
	kube     kubernetes.Interface
	in       *inputs
}

// Healthy fails when the host reconcile loop is stuck; see hostloop.Loop.
func (a *Agent) Healthy() error { return a.loop.Healthy() }

// Ready fails until this node's host network is as its object asks, and
// whenever a pass leaves it short; see hostloop.Loop.Converged.
func (a *Agent) Ready() error { return a.loop.Converged() }

// New wires an agent to the API server and the host; Run starts it.
func New(ctx context.Context, restCfg *rest.Config, host *hostnet.Host, cfg Config) (*Agent, error) {
	if cfg.NodeName == "" {
		return nil, fmt.Errorf("the node name is empty: set --node-name or NODE_NAME")
	}
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return nil, err
	}
	scf, err := ownNodeOnly(restCfg, cfg.NodeName)
	if err != nil {
		return nil, err
	}
	netv1 := netctl.NewFactoryFromConfigWithOptionsOrDie(restCfg, &netctl.FactoryOptions{SharedControllerFactory: scf}).Network().V1alpha1()
	nodes, networks := netv1.Node(), netv1.ClusterNetwork()
	recorder := eventRecorder(ctx, kube, cfg.NodeName)

	api := nodeClient{name: cfg.NodeName, nodes: nodes}
	a := &Agent{nodeName: cfg.NodeName, scf: scf, api: api, kube: kube}
	a.writer = newWriter(cfg.NodeName, cfg.Loop.Options, api, recorder, cfg.Loop.Clock)
	loopCfg := cfg.Loop
	loopCfg.Metrics = metrics.OrAgent(loopCfg.Metrics) // one set for the loop and the writer
	a.writer.met = loopCfg.Metrics
	loopCfg.OnResult = a.writer.push
	// Probes around changes of the node's own addresses, from the host's
	// namespace; the API server through this agent's own client.
	prober, err := probe.NewRunner(host.NsPath(), func(ctx context.Context) error {
		return kube.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	})
	if err != nil {
		return nil, err
	}
	loopCfg.Prober, loopCfg.ProbeAPI = prober, true
	if a.loop, err = hostloop.New(host, loopCfg); err != nil {
		return nil, err
	}
	in := &inputs{set: a.loop.SetInput}
	a.in = in
	nodes.OnChange(ctx, "harvnet-agent", func(_ string, n *v1alpha1.Node) (*v1alpha1.Node, error) {
		return onNode(api, in, cfg.NodeName, n)
	})
	// The ClusterNetwork "vlan" holds the probe settings and, in
	// status.nads, what the cluster's NADs ask of each bridge.
	bridge, said := cfg.Loop.Options.BridgeName, ""
	networks.OnChange(ctx, "harvnet-agent", func(name string, cn *v1alpha1.ClusterNetwork) (*v1alpha1.ClusterNetwork, error) {
		if name != v1alpha1.ClusterNetworkVLAN {
			return cn, nil
		}
		if cn != nil {
			in.probes(cn.Spec.Probes)
		}
		ask, known, err := nadInput(cn, bridge)
		switch {
		case err != nil:
			// Retrying reads the same object: the next change brings a new one.
			if msg := err.Error(); msg != said {
				slog.Error("keeping the NAD VLANs applied until the ClusterNetwork's status.nads can be read", "err", err)
				recorder.Event(nodeRef(cfg.NodeName), corev1.EventTypeWarning, "InvalidNADStatus",
					truncate(msg+"; the VLANs applied before are kept until it can be read", maxEventMessage))
				said = msg
			}
		case !known:
		case ask.unavailable != "":
			in.noNADs(ask.unavailable)
		default:
			in.vlans(ask.vlans, ask.mtus)
		}
		return cn, nil
	})
	return a, nil
}

// Run reconciles until ctx ends: from the state file's last applied
// input at once (the API server may not answer: the node may need this
// very agent to repair the network that reaches it), from the Node
// object once the caches have synced.
func (a *Agent) Run(ctx context.Context) error {
	go a.writer.run(ctx)
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		a.loop.Run(ctx)
	}()
	if err := a.scf.Start(ctx, 1); err != nil {
		return err
	}
	// Start returns once the caches have synced, so a missing object is
	// the API server's answer, not a cache still filling.
	if _, err := a.api.cached(); apierrors.IsNotFound(err) && ctx.Err() == nil {
		onAbsent(ctx, a.kube.CoreV1().Nodes(), a.nodeName, a.in)
	}
	<-loopDone
	return nil
}

// ownNodeOnly is a controller factory whose Node informer lists and watches
// this node's object alone, and whose ClusterNetwork informer the "vlan"
// one, so every agent caches two objects, not the cluster.
func ownNodeOnly(restCfg *rest.Config, nodeName string) (controller.SharedControllerFactory, error) {
	cf, err := client.NewSharedClientFactory(restCfg, &client.SharedClientFactoryOptions{Scheme: schemes.All})
	if err != nil {
		return nil, err
	}
	sel := fields.OneTermEqualSelector("metadata.name", nodeName).String()
	cacheFactory := cache.NewSharedCachedFactory(cf, &cache.SharedCacheFactoryOptions{
		KindTweakList: map[schema.GroupVersionKind]cache.TweakListOptionsFunc{
			v1alpha1.SchemeGroupVersion.WithKind("Node"): func(o *metav1.ListOptions) { o.FieldSelector = sel },
			v1alpha1.SchemeGroupVersion.WithKind("ClusterNetwork"): func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("metadata.name", v1alpha1.ClusterNetworkVLAN).String()
			},
		},
	})
	return controller.NewSharedControllerFactory(cacheFactory, nil), nil
}

func onNode(api nodeAPI, in *inputs, name string, n *v1alpha1.Node) (*v1alpha1.Node, error) {
	if n == nil || n.Name != name {
		if n == nil {
			in.node(nil, true) // deleted without waiting for us: tear down anyway
		}
		return n, nil
	}
	if n.DeletionTimestamp != nil {
		in.node(n, true) // the writer removes the finalizer once torn down
		return n, nil
	}
	if n.Spec.Network.Type != v1alpha1.NetworkTypeNone && !slices.Contains(n.Finalizers, v1alpha1.AgentFinalizer) {
		c := n.DeepCopy()
		c.Finalizers = append(c.Finalizers, v1alpha1.AgentFinalizer)
		var err error
		if n, err = api.patchFinalizers(n, c); err != nil {
			return nil, err
		}
	}
	in.node(n, false)
	return n, nil
}

// onAbsent tears down for a node whose object is gone, but only when the
// core Node exists: an agent started with a mistyped --node-name must not
// undo a working node's network because no object has that name.
func onAbsent(ctx context.Context, core coreNodes, name string, in *inputs) {
	_, err := core.Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		slog.Info("no Node object for this node: tearing down what harvnet set up", "node", name)
		in.absent()
	case apierrors.IsNotFound(err):
		slog.Error("no Node object and no core Node of this name: changing nothing until one appears; is --node-name right?", "node", name)
	default:
		slog.Error("no Node object, and the core Node cannot be read to tell a deleted object from a wrong name: changing nothing", "node", name, "err", err)
	}
}

func eventRecorder(ctx context.Context, kube kubernetes.Interface, nodeName string) record.EventRecorder {
	b := record.NewBroadcaster(record.WithContext(ctx))
	b.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: kube.CoreV1().Events("")})
	return b.NewRecorder(schemes.All, corev1.EventSource{Component: "harvnet-agent", Host: nodeName})
}
