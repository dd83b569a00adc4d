package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// eventPass matches BenchmarkEventPass's lines (pkg/reconcile): the
// per-event pass with 0, 200 and 1000 VM ports.
var eventPass = regexp.MustCompile(`^BenchmarkEventPass/ports=(\d+)-\d+\s+(\d+)\s+([\d.]+) ns/op\s+([\d.]+) full-p50-ms\s+([\d.]+) p50-ms\s+([\d.]+) p99-ms`)

// micro runs the Go benchmarks of ./pkg/... (the report's last section)
// and takes figure 4 from them, with a CPU profile of the 1000-port pass
// to say where its time goes.
func (b *bench) micro() (*Figure, error) {
	f := &Figure{ID: "4", Title: "Per-event pass against the number of VM ports",
		How: "`BenchmarkEventPass` (pkg/reconcile, from the Go benchmarks below): a netlink-driven pass (`ReconcileChanged` after an event on the uplink, as the agent's loop runs it: the links the events named are read again with their addresses, routes and VLANs, harvnet's own as links (whole only when named or not as last read), each asked of the kernel alone, the rest taken from the last read; no netfilter refresh) that finds nothing to do, through the public reconcile and hostnet packages on a netns node whose bridge carries 0, 200 or 1000 up veth VM ports (both ends in the node's namespace). Median and p99 of single passes over the benchmark's iterations; for context, the median of 5 full passes (the read of everything that a new input, a retry, a lost event and one resync per `--full-resync` do), which still grows with the ports."}
	cmd := exec.Command("go", "test", "-count=1", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", "1s", "./pkg/...")
	cmd.Dir = b.root
	out, err := cmd.CombinedOutput()
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "?") || strings.HasPrefix(l, "PASS") || strings.HasPrefix(l, "goos:") || strings.HasPrefix(l, "goarch:") {
			continue // packages without benchmarks, and noise
		}
		keep = append(keep, l)
	}
	b.rep.Micro = strings.Join(keep, "\n")
	if err != nil {
		return f, fmt.Errorf("go test -bench: %v", err)
	}
	p50, p99 := map[int]float64{}, map[int]float64{}
	var rows []Row
	for _, l := range strings.Split(string(out), "\n") {
		m := eventPass.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		ports, _ := strconv.Atoi(m[1])
		fullP50, _ := strconv.ParseFloat(m[4], 64)
		p50[ports], _ = strconv.ParseFloat(m[5], 64)
		p99[ports], _ = strconv.ParseFloat(m[6], 64)
		rows = append(rows, Row{What: fmt.Sprintf("event pass with %d VM ports (median; p99 %.3g ms over %s passes; a full pass: %.3g ms)", ports, p99[ports], m[2], fullP50), Value: p50[ports], Unit: "ms"})
	}
	if len(rows) != 3 {
		return f, fmt.Errorf("BenchmarkEventPass: found %d of its 3 results in the output", len(rows))
	}
	ratio := Row{What: "1000-port pass over the 0-port pass (medians)", Value: p50[1000] / p50[0], Unit: "x"}
	ratio.judge(0.5, 2, "<= 2x")
	f.Rows = append(rows, ratio)
	if ratio.Met != nil && !*ratio.Met {
		f.Notes = append(f.Notes, b.profile())
	}
	return f, nil
}

// profile says where the 1000-port pass spends its time.
func (b *bench) profile() string {
	dir, err := os.MkdirTemp("", "harvnet-bench-prof-")
	if err != nil {
		return "No profile: " + err.Error()
	}
	defer os.RemoveAll(dir)
	prof := filepath.Join(dir, "cpu.out")
	test := filepath.Join(dir, "reconcile.test")
	cmd := exec.Command("go", "test", "-count=1", "-run", "^$", "-bench", "EventPass/ports=1000$", "-benchtime", "200x", "-cpuprofile", prof, "-o", test, "./pkg/reconcile/")
	cmd.Dir = b.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Sprintf("No profile: %v: %s", err, out)
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-cum", test, prof).Output()
	if err != nil {
		return "No profile: " + err.Error()
	}
	// Each function's share of Reconcile, for the functions that say why.
	cum := map[string]float64{}
	for _, l := range strings.Split(string(top), "\n") {
		fs := strings.Fields(l)
		if len(fs) < 6 {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSuffix(fs[3], "ms"), "s"), 64)
		if err != nil {
			continue
		}
		if strings.HasSuffix(fs[3], "ms") {
			v /= 1000
		}
		cum[fs[5]] = v
	}
	total := cum["github.com/harvnet/harvnet/pkg/reconcile.(*Reconciler).ReconcileChanged"]
	if total == 0 {
		return "No profile: ReconcileChanged is not in it."
	}
	var parts []string
	for _, fn := range []struct{ name, what string }{
		{"github.com/harvnet/harvnet/pkg/hostnet.(*Host).ObserveScoped", "reading the changed and own links"},
		{"github.com/harvnet/harvnet/pkg/hostnet.(*strictReader).routes", "their routes (the kernel walks the whole main table for each link)"},
		{"github.com/harvnet/harvnet/pkg/hostnet.(*strictReader).addrs", "their addresses"},
		{"github.com/harvnet/harvnet/pkg/hostnet.(*Host).readVLANs", "their bridge VLANs"},
		{"github.com/vishvananda/netlink.(*Handle).LinkByIndex", "the links themselves"},
		{"github.com/vishvananda/netlink.(*Handle).LinkByName", "harvnet's own links by name"},
		{"github.com/harvnet/harvnet/pkg/reconcile.(*Reconciler).plan", "planning (desired state, diff)"},
		{"github.com/harvnet/harvnet/pkg/hoststate.(*State).Ports", "listing the bridge's ports"},
	} {
		if v, ok := cum[fn.name]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f%%", fn.what, 100*v/total))
		}
	}
	return fmt.Sprintf("Why (CPU profile of 200 1000-port event passes in this process: each function's cumulative samples as a share of ReconcileChanged's, so they overlap and need not add up; kernel time in a request counts where it is made): %s. What still grows with the VM ports: the kernel walks a whole routing table to answer a dump filtered by link (the IPv6 main table holds every VM port's fe80::/64), once for each link an event named (harvnet's own links not named are read as links only, their routes and addresses taken from the last read). The rest of the pass looks only at the links read again: the last read's link list, routes and their indexes (by name, by index, bridge ports by kind and MTU) are shared, not copied, where those links are as they were.", strings.Join(parts, ", "))
}
