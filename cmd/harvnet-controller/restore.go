package main

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/generated/clientset/versioned"
)

// restoreHosts is the chart's pre-delete hook (harvnet-controller
// --restore-hosts): it switches every ClusterNetwork off and waits until
// every harvnet Node object is gone. The running controller deletes those
// objects once the network is off, and each node's agent removes its
// finalizer only after it tore the bridge down and gave the uplink its
// addresses and routes back; so "no objects left" means every host is
// restored, and uninstalling the agents afterwards leaves nothing stuck
// behind a finalizer. It runs before Helm deletes anything, while the
// controller and the agents still run.
func restoreHosts(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	cs, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return restore(ctx, cs, timeout, time.Second)
}

// restore is restoreHosts on a clientset, polling every poll.
func restore(ctx context.Context, cs versioned.Interface, timeout, poll time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	api := cs.NetworkV1alpha1()
	cns, err := api.ClusterNetworks().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing ClusterNetworks: %w", err)
	}
	// The controller leaves nodes as they are while the ClusterNetwork
	// is missing (only an explicit disable switches them off); uninstalling
	// is one, so it is made again, switched off.
	if !slices.ContainsFunc(cns.Items, func(cn v1alpha1.ClusterNetwork) bool { return cn.Name == v1alpha1.ClusterNetworkVLAN }) {
		vlan := &v1alpha1.ClusterNetwork{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterNetworkVLAN}}
		if _, err := api.ClusterNetworks().Create(ctx, vlan, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating ClusterNetwork %s switched off: %w", vlan.Name, err)
		}
		slog.Info("restore-hosts: ClusterNetwork was missing; created it switched off", "name", vlan.Name)
	}
	// A merge patch touches only spec.enable, so fields this binary does
	// not know survive.
	off := []byte(`{"spec":{"enable":false}}`)
	for _, cn := range cns.Items {
		if !cn.Spec.Enable {
			continue
		}
		if _, err := api.ClusterNetworks().Patch(ctx, cn.Name, types.MergePatchType, off, metav1.PatchOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("disabling ClusterNetwork %s: %w", cn.Name, err)
		}
		slog.Info("restore-hosts: ClusterNetwork disabled", "name", cn.Name)
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	for {
		nodes, err := api.Nodes().List(ctx, metav1.ListOptions{})
		if err == nil && len(nodes.Items) == 0 {
			slog.Info("restore-hosts: every host is restored")
			return nil
		}
		var left []string
		if err == nil {
			for _, n := range nodes.Items {
				left = append(left, n.Name)
			}
			slices.Sort(left)
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return fmt.Errorf("waiting for hosts to be restored: %w", err)
			}
			return fmt.Errorf("after %v these nodes' agents have not restored their hosts: %v", timeout, left)
		case <-tick.C:
		}
	}
}
