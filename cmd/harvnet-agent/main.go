// harvnet-agent makes this node's host network match its Node object.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/harvnet/harvnet/pkg/agent"
	"github.com/harvnet/harvnet/pkg/cmdutil"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostloop"
	"github.com/harvnet/harvnet/pkg/hostnet"
	"github.com/harvnet/harvnet/pkg/metrics"
	"github.com/harvnet/harvnet/pkg/statelock"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "harvnet-agent:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("harvnet-agent", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file; empty for the in-cluster config")
	nodeName := fs.String("node-name", os.Getenv("NODE_NAME"), "this node's name (default: $NODE_NAME)")
	bridge := fs.String("bridge-name", desired.DefaultBridge, "the VLAN bridge to manage")
	bondName := fs.String("bond-name", "", `the bond built when spec.network.uplink asks for one; empty derives it from --bridge-name ("br" becomes "bo": harvester-bo0)`)
	uplinkTypes := fs.String("uplink-types", strings.Join(desired.DefaultUplinkTypes, ","), "link types offered as NICs (device is a physical NIC)")
	stateDir := fs.String("state-dir", "/var/lib/harvnet", "where the agent keeps what it moved off the uplink")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9101", "address for /metrics; empty or 0 turns it off (VMs on the bridge can reach every host address)")
	profiling := fs.Bool("profiling", false, "serve Go profiles under /debug/pprof/ on --metrics-addr")
	healthAddr := fs.String("health-addr", "127.0.0.1:9102", "address for /healthz and /readyz (the kubelet probes 127.0.0.1 on the host network); empty or 0 turns it off")
	sysctlDir := fs.String("sysctl-dir", hostnet.DefaultSysctlDir, "directory whose net/ is the host's /proc/sys/net (a pod mounts it outside /proc, which runtimes keep read-only)")
	resync := fs.Duration("resync", 5*time.Second, "how often sysctl, iptables and ebtables are re-checked (they have no events)")
	fullResync := fs.Duration("full-resync", time.Minute, "how often the whole host network is read again, besides the links netlink events name (a safety net for a missed event); at least --resync")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: every setting is a flag", fs.Args())
	}
	opts := desired.Options{BridgeName: *bridge, BondName: *bondName, UplinkTypes: splitList(*uplinkTypes)}
	if err := opts.Validate(); err != nil {
		return err
	}
	if *resync <= 0 {
		return fmt.Errorf("--resync must be positive, got %v", *resync)
	}
	if *fullResync <= 0 {
		return fmt.Errorf("--full-resync must be positive, got %v", *fullResync)
	}
	if *nodeName == "" {
		return fmt.Errorf("the node name is empty: set --node-name or NODE_NAME")
	}
	restCfg, err := cmdutil.RestConfig(*kubeconfig, "harvnet-agent/"+*nodeName)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	ctx, cancel := cmdutil.SignalContext()
	defer cancel()
	// One agent per node acts: a second one (a force-deleted pod whose
	// container still runs, a debug copy) waits here, before anything reads
	// or changes the host, until the holder exits. It serves no probes
	// meanwhile: with hostNetwork the holder has the same ports and answers.
	lock, err := statelock.Acquire(ctx, *stateDir, *nodeName, func(holder string) {
		slog.Warn("another harvnet-agent acts on this node; waiting for it to exit before touching the host",
			"lock", filepath.Join(*stateDir, statelock.FileName), "holder", holder)
	})
	if err != nil {
		return err
	}
	defer lock.Release()
	host, err := hostnet.New("")
	if err != nil {
		return err
	}
	defer host.Close()
	host.SetHardwareKinds(opts.UplinkTypes)
	if *sysctlDir != hostnet.DefaultSysctlDir {
		if err := host.SetSysctlDir(*sysctlDir); err != nil {
			return fmt.Errorf("--sysctl-dir: %w", err)
		}
	}

	reg := metrics.NewRegistry()
	a, err := agent.New(ctx, restCfg, host, agent.Config{
		NodeName: *nodeName,
		Loop:     hostloop.Config{Options: opts, StateDir: *stateDir, Resync: *resync, FullResync: *fullResync, Metrics: metrics.NewAgent(reg)},
	})
	if err != nil {
		return err
	}
	if err := cmdutil.Endpoints(ctx, *healthAddr, *metricsAddr, cmdutil.Probes{Healthy: a.Healthy, Ready: a.Ready, Metrics: reg, Profiling: *profiling}); err != nil {
		return err
	}
	slog.Info("harvnet-agent starting", "node", *nodeName, "bridge", opts.BridgeName, "bond", opts.Bond(), "uplinkTypes", opts.UplinkTypes)
	return a.Run(ctx)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
