package agent

import (
	"context"
	"log/slog"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"

	"github.com/harvnet/harvnet/internal/clock"
	cniv1 "github.com/harvnet/harvnet/pkg/apis/k8s.cni.cncf.io/v1"
)

// nadResource is the NAD type's plural, as Multus's CRD serves it.
const nadResource = "network-attachment-definitions"

// noNADsWhy is what status says while the cluster serves no NADs.
var noNADsWhy = "the cluster serves no NetworkAttachmentDefinitions (" + cniv1.SchemeGroupVersion.String() + " " + nadResource +
	"; is Multus installed?); they are picked up when it does"

// nadSource starts the NAD watch once the API server serves NADs. Without
// the CRD a watch would never sync, and an agent waiting for it would never
// reconcile (while /healthz said ok); instead the node runs without NAD
// VLANs, says so, and asks again every interval.
type nadSource struct {
	served   func() (bool, error)
	start    func(context.Context) error // lists the NADs and keeps watching them
	in       *inputs
	interval time.Duration
	clock    clock.Clock
}

func (s *nadSource) run(ctx context.Context) {
	said := ""
	for {
		ok, err := s.served()
		switch {
		case err != nil:
			if msg := err.Error(); msg != said {
				slog.Warn("cannot tell whether the cluster serves NetworkAttachmentDefinitions; asking again", "err", err, "every", s.interval)
				said = msg
			}
		case ok:
			if err := s.start(ctx); err == nil {
				return
			} else if ctx.Err() == nil {
				slog.Warn("starting the NetworkAttachmentDefinition watch", "err", err)
			}
		default:
			if said != noNADsWhy {
				slog.Warn("running without NAD VLANs: " + noNADsWhy)
				said = noNADsWhy
			}
			s.in.noNADs(noNADsWhy)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.clock.After(s.interval):
		}
	}
}

// nadsServed asks the API server's discovery whether it serves NADs.
func nadsServed(d discovery.DiscoveryInterface) func() (bool, error) {
	return func() (bool, error) {
		rl, err := d.ServerResourcesForGroupVersion(cniv1.SchemeGroupVersion.String())
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		return slices.ContainsFunc(rl.APIResources, func(r metav1.APIResource) bool { return r.Name == nadResource }), nil
	}
}
