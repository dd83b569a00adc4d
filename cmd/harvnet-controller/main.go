// harvnet-controller creates and deletes harvnet Node objects alongside the
// cluster's core Nodes. Run two replicas: a Lease elects the active one.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/rancher/wrangler/v3/pkg/generated/controllers/core"
	"github.com/rancher/wrangler/v3/pkg/leader"
	"k8s.io/client-go/kubernetes"

	"github.com/harvnet/harvnet/pkg/cmdutil"
	"github.com/harvnet/harvnet/pkg/controller"
	netctl "github.com/harvnet/harvnet/pkg/generated/controllers/network.harvesterhci.io"
	"github.com/harvnet/harvnet/pkg/metrics"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "harvnet-controller:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("harvnet-controller", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file; empty for the in-cluster config")
	namespace := fs.String("namespace", "harvester-system", "namespace of the leader-election Lease")
	healthAddr := fs.String("health-addr", ":9103", "address for /healthz; empty or 0 turns it off")
	metricsAddr := fs.String("metrics-addr", ":9104", "address for /metrics; empty or 0 turns it off")
	profiling := fs.Bool("profiling", false, "serve Go profiles under /debug/pprof/ on --metrics-addr")
	restore := fs.Bool("restore-hosts", false, "switch every ClusterNetwork off, wait until every node's agent restored its host, and exit (the chart's pre-delete hook)")
	restoreTimeout := fs.Duration("restore-timeout", 2*time.Minute, "how long --restore-hosts waits")
	nodeGoneGrace := fs.Duration("node-gone-grace", controller.DefaultNodeGoneGrace, "how long a harvnet Node object (and so the node's network and its spec) outlives its core Node; a core Node registered again meanwhile (kubectl delete node, then the kubelet) takes it back as it is")
	// client-go's default (5 QPS, burst 10) makes creating the Node
	// objects of a 1000-node cluster take 200 s; the controller is one
	// client for the whole cluster, like kube-controller-manager, and the
	// API server's priority and fairness protects everyone else.
	qps := fs.Float64("kube-api-qps", 100, "requests per second to the API server (sustained)")
	burst := fs.Int("kube-api-burst", 200, "requests to the API server in a burst")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *qps <= 0 || *burst < 1 {
		return fmt.Errorf("--kube-api-qps must be positive and --kube-api-burst at least 1, not %v and %d", *qps, *burst)
	}
	if *nodeGoneGrace <= 0 {
		return fmt.Errorf("--node-gone-grace must be positive, not %v", *nodeGoneGrace)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: every setting is a flag", fs.Args())
	}
	if *namespace == "" {
		return fmt.Errorf("--namespace is empty: the leader-election Lease needs a namespace")
	}
	restCfg, err := cmdutil.RestConfig(*kubeconfig, "harvnet-controller")
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	restCfg.QPS, restCfg.Burst = float32(*qps), *burst
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	ctx, cancel := cmdutil.SignalContext()
	defer cancel()
	if *restore {
		return restoreHosts(ctx, restCfg, *restoreTimeout)
	}
	// /healthz: a standby is healthy (it is waiting for the Lease, which
	// is its job); a leader is healthy once its caches synced and its
	// controllers run. A leader whose start failed exits instead.
	var state atomic.Value
	state.Store("standby")
	health := func() error {
		if s := state.Load().(string); s != "standby" && s != "leading" {
			return errors.New(s)
		}
		return nil
	}
	reg := metrics.NewRegistry()
	met := metrics.NewController(reg)
	if err := cmdutil.Endpoints(ctx, *healthAddr, *metricsAddr, cmdutil.Probes{Healthy: health, Ready: health, Metrics: reg, Profiling: *profiling}); err != nil {
		return err
	}
	slog.Info("harvnet-controller starting; waiting for leadership", "namespace", *namespace)
	leader.RunOrDie(ctx, *namespace, "harvnet-controller", kube, func(ctx context.Context) {
		state.Store("leader: waiting for the caches to sync")
		coreF := core.NewFactoryFromConfigOrDie(restCfg)
		netF := netctl.NewFactoryFromConfigOrDie(restCfg)
		v := netF.Network().V1alpha1()
		opts := controller.Options{NodeGoneGrace: *nodeGoneGrace, Recorder: controller.NewRecorder(ctx, kube), Metrics: met}
		if err := controller.Register(ctx, coreF.Core().V1().Node(), v.Node(), v.ClusterNetwork(), opts); err != nil {
			slog.Error("registering controllers", "err", err)
			cancel()
			return
		}
		if err := coreF.Start(ctx, 2); err != nil {
			slog.Error("starting core controllers", "err", err)
			cancel()
			return
		}
		if err := netF.Start(ctx, 2); err != nil {
			slog.Error("starting harvnet controllers", "err", err)
			cancel()
			return
		}
		// The NAD summary and reports wait for Multus's CRD on their own: never for leading.
		go controller.RunNADs(ctx, restCfg, kube, v.ClusterNetwork())
		state.Store("leading") // Start returns once the caches synced
		met.Leader.Set(1)
		slog.Info("harvnet-controller is the leader")
	})
	<-ctx.Done()
	return nil
}
