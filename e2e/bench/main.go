// Command bench measures harvnet end to end, as an operator sees it, and
// writes BENCHMARKS.md (make bench). It starts what the e2e tier starts
// (e2e/framework: a real kube-apiserver and etcd, network-namespace nodes
// with the real agent binary, the real controller), drives the kernel and
// the API from this process, and reads the processes' costs from the
// kernel's own accounting (/proc) and the API server's own metrics. It
// needs root. See the issue #12 figures in BENCHMARKS.md.
//
// HARVNET_BENCH_IDLE (a Go duration, default 5m) shortens the idle figure
// for a quick run; the report says when it was shortened.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/pkg/generated/clientset/versioned"
)

// The node every figure but the scale one runs on.
const nodeName = "bn1"

type bench struct {
	root string
	// top holds every file of the run; dir is the cluster's, inside it.
	top, dir string
	c        *framework.Cluster
	// Clients with client-go's rate limit lifted: the benchmark must not
	// be what limits a figure.
	admin *rest.Config
	kube  kubernetes.Interface
	net   versioned.Interface
	node  *framework.RunningNode
	rep   *Report
	idle  time.Duration
}

func main() {
	out := flag.String("out", "BENCHMARKS.md", "report to write")
	only := flag.String("only", "", "comma-separated figure numbers to run (default all), for working on the harness")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: needs root (network namespaces, veths, bridges)")
		os.Exit(1)
	}
	root, _ := os.Getwd()
	idle := 5 * time.Minute
	if v := os.Getenv("HARVNET_BENCH_IDLE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: HARVNET_BENCH_IDLE:", err)
			os.Exit(2)
		}
		idle = d
	}
	rep := &Report{Started: time.Now(), Machine: machine(root)}
	b := &bench{root: root, rep: rep, idle: idle}
	err := b.run(selected(*only))
	rep.Took = time.Since(rep.Started)
	if err != nil {
		rep.Problems = append(rep.Problems, "the run stopped: "+err.Error())
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	rep.Compare = comparison
	path := *out
	if !filepath.IsAbs(path) {
		path = filepath.Join(root, path)
	}
	if werr := rep.write(path); werr != nil {
		fmt.Fprintln(os.Stderr, "bench:", werr)
		os.Exit(1)
	}
	fmt.Printf("bench: wrote %s in %s\n", *out, rep.Took.Round(time.Second))
	if err != nil {
		os.Exit(1)
	}
}

func selected(only string) func(id string) bool {
	if only == "" {
		return func(string) bool { return true }
	}
	set := map[string]bool{}
	for _, s := range splitComma(only) {
		set[s] = true
	}
	return func(id string) bool { return set[id] }
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// figures in the order they run: the cheap latency ones first on a quiet
// node, the storm, idle, then scale (which leaves the cluster full), then
// the Go benchmarks with the cluster gone.
func (b *bench) run(want func(string) bool) error {
	bin := filepath.Join(b.root, "bin")
	for _, name := range []string{"harvnet-agent", "harvnet-controller"} {
		if _, err := os.Stat(filepath.Join(bin, name)); err != nil {
			return fmt.Errorf("%s: run make build first (make bench does): %w", name, err)
		}
	}
	b.binarySize(bin)
	b.testTimes()
	type fig struct {
		id  string
		run func(context.Context) (*Figure, error)
	}
	cluster := []fig{
		{"1", b.eventToStatus},
		{"2", b.driftRepair},
		{"8", b.statusSize},
		{"3", b.churnStorm},
		{"5", b.idleFigure},
		{"7", b.scale},
	}
	needCluster := false
	for _, f := range cluster {
		needCluster = needCluster || want(f.id)
	}
	if needCluster {
		if err := b.setUp(); err != nil {
			if b.c != nil {
				b.c.Close()
			}
			return fmt.Errorf("setting up the cluster: %w", err)
		}
		for _, f := range cluster {
			if !want(f.id) {
				continue
			}
			fmt.Printf("bench: figure %s...\n", f.id)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
			fg, err := f.run(ctx)
			cancel()
			if fg != nil {
				b.rep.Figures = append(b.rep.Figures, fg)
			}
			if err != nil {
				b.rep.Problems = append(b.rep.Problems, fmt.Sprintf("figure %s: %v", f.id, err))
				fmt.Printf("bench: figure %s: %v\n", f.id, err)
			}
		}
		b.c.Close()
		if len(b.rep.Problems) == 0 {
			os.RemoveAll(b.top)
		} else {
			b.rep.Problems = append(b.rep.Problems, "logs kept in "+b.top)
		}
	}
	if want("6") {
		fmt.Println("bench: figure 6 (and figure 2's VLAN row) in the full-kernel VM...")
		fg, drift, err := b.vlansFigure()
		b.rep.Figures = append(b.rep.Figures, fg)
		b.vlanDrift(drift)
		if err != nil {
			if len(fg.Rows) == 0 {
				fg.Rows = []Row{{What: "VLANs 2-4094, harvnet against the bridge plugin", Goal: "harvnet >= 20x faster", Skipped: "did not run (see below)"}}
			}
			b.rep.Problems = append(b.rep.Problems, "figure 6: "+err.Error())
			fmt.Println("bench: figure 6:", err)
		}
	}
	if want("4") || want("micro") {
		fmt.Println("bench: Go benchmarks (figure 4)...")
		fg, err := b.micro()
		b.rep.Figures = append(b.rep.Figures, fg)
		if err != nil {
			b.rep.Problems = append(b.rep.Problems, "Go benchmarks: "+err.Error())
		}
	}
	sortFigures(b.rep.Figures)
	return nil
}
