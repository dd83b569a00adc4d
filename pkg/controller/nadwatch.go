package controller

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/rancher/lasso/pkg/controller"
	"github.com/rancher/wrangler/v3/pkg/generic"
	"github.com/rancher/wrangler/v3/pkg/relatedresource"
	"github.com/rancher/wrangler/v3/pkg/schemes"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	cniv1 "github.com/harvnet/harvnet/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	netctl "github.com/harvnet/harvnet/pkg/generated/controllers/network.harvesterhci.io/v1alpha1"
)

func init() { schemes.Register(cniv1.AddToScheme) }

// nadResource is the NAD type's plural, as Multus's CRD serves it.
const nadResource = "network-attachment-definitions"

// nadDiscoveryInterval is how often the controller asks again whether the
// cluster serves NADs, until it does.
const nadDiscoveryInterval = 10 * time.Second

// NoNADsWhy is what status.nads.unavailable says while the cluster serves
// no NADs; the agents copy it into their Node's status.
var NoNADsWhy = "the cluster serves no NetworkAttachmentDefinitions (" + cniv1.SchemeGroupVersion.String() + " " + nadResource +
	"; is Multus installed?); they are picked up when it does"

// RunNADs watches the NADs once the API server serves them: it reports the
// ones the agents skip (see nadReports) and writes what they ask of each
// bridge into the ClusterNetwork's status.nads (see nadSummary), which the
// agents read. Without Multus's CRD a watch would never sync, so it asks
// discovery every nadDiscoveryInterval, all along (the type can go away
// too), says in status.nads while the type is not served, and the rest of
// the controller never waits on it. It returns when ctx ends.
func RunNADs(ctx context.Context, restCfg *rest.Config, kube kubernetes.Interface, networks netctl.ClusterNetworkController) {
	recorder := NewRecorder(ctx, kube)
	reports := newNADReports(recorder, func() *v1alpha1.ClusterNetwork {
		cn, err := networks.Cache().Get(v1alpha1.ClusterNetworkVLAN)
		if err != nil {
			return nil
		}
		return cn
	})
	sum := newNADSummary(networks)
	networks.OnChange(ctx, "harvnet-nad-summary", sum.sync)
	said := false
	var stop context.CancelFunc // the running NAD watch's
	for {
		ok, err := nadsServed(kube)
		switch {
		case err != nil:
			slog.Warn("cannot tell whether the cluster serves NetworkAttachmentDefinitions; asking again", "err", err, "every", nadDiscoveryInterval)
		case ok && stop == nil:
			wctx, cancel := context.WithCancel(ctx)
			if err := startNADWatch(wctx, restCfg, networks, reports, sum); err != nil {
				cancel()
				if ctx.Err() == nil {
					slog.Warn("starting the NetworkAttachmentDefinition watch", "err", err)
				}
				break
			}
			stop, said = cancel, false
		case ok:
		default:
			// The type went away (Multus uninstalled) with every NAD: the
			// watch's cache still holds them, and would until its relist
			// succeeds; a new watch starts from the cluster as it is then.
			if stop != nil {
				stop()
				stop = nil
			}
			sum.unserved(NoNADsWhy)
			if !said {
				slog.Info("the cluster serves no NetworkAttachmentDefinitions (is Multus installed?); asking again", "every", nadDiscoveryInterval)
				said = true
			}
		}
		select {
		case <-ctx.Done():
			if stop != nil {
				stop()
			}
			return
		case <-time.After(nadDiscoveryInterval):
		}
	}
}

func startNADWatch(ctx context.Context, restCfg *rest.Config, networks netctl.ClusterNetworkController, reports *nadReports, sum *nadSummary) error {
	scf, err := controller.NewSharedControllerFactoryFromConfig(restCfg, schemes.All)
	if err != nil {
		return err
	}
	gvk := schema.GroupVersionKind{Group: cniv1.SchemeGroupVersion.Group, Version: cniv1.SchemeGroupVersion.Version, Kind: "NetworkAttachmentDefinition"}
	nads := generic.NewController[*cniv1.NetworkAttachmentDefinition, *cniv1.NetworkAttachmentDefinitionList](gvk, nadResource, true, scf)
	nads.OnChange(ctx, "harvnet-nad-reports", func(key string, d *cniv1.NetworkAttachmentDefinition) (*cniv1.NetworkAttachmentDefinition, error) {
		if d == nil {
			reports.forget(key)
			return nil, nil
		}
		reports.check(d)
		return d, nil
	})
	// A NAD's change enqueues the ClusterNetwork, whose summary handler
	// reads every NAD: the work queue folds a burst of NAD events (the
	// initial list, a namespace of NADs created at once) into one or two
	// recomputes.
	relatedresource.WatchClusterScoped(ctx, "harvnet-nad-summary", func(string, string, runtime.Object) ([]relatedresource.Key, error) {
		return []relatedresource.Key{{Name: v1alpha1.ClusterNetworkVLAN}}, nil
	}, networks, nads)
	// A new allow-list can put NADs outside it: look at each again.
	networks.OnChange(ctx, "harvnet-nad-reports", func(name string, cn *v1alpha1.ClusterNetwork) (*v1alpha1.ClusterNetwork, error) {
		if name != v1alpha1.ClusterNetworkVLAN {
			return cn, nil
		}
		list, err := nads.Cache().List("", labels.Everything())
		if err != nil {
			return cn, err
		}
		for _, d := range list {
			reports.check(d)
		}
		return cn, nil
	})
	if err := scf.Start(ctx, 1); err != nil {
		return err
	}
	// Start returns once the NAD cache has synced: from now on a summary
	// is the cluster's, not a cache still filling.
	sum.serve(func() ([]*cniv1.NetworkAttachmentDefinition, error) {
		return nads.Cache().List("", labels.Everything())
	})
	return nil
}

// nadsServed asks the API server's discovery whether it serves NADs.
func nadsServed(kube kubernetes.Interface) (bool, error) {
	rl, err := kube.Discovery().ServerResourcesForGroupVersion(cniv1.SchemeGroupVersion.String())
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(rl.APIResources, func(r metav1.APIResource) bool { return r.Name == nadResource }), nil
}
