package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// idleFigure is figure 5: nothing changes for b.idle.
func (b *bench) idleFigure(ctx context.Context) (*Figure, error) {
	f := &Figure{ID: "5", Title: "Idle",
		How: fmt.Sprintf("Node %s converged (uplink eth1, agent at its defaults: --resync 5s), the controller leading, and nothing changing for %v after a 15 s settle. API writes are the API server's own apiserver_request_total; CPU is user+system time from /proc/<pid>/stat over the window.", nodeName, b.idle)}
	if b.idle < 5*time.Minute {
		f.Notes = append(f.Notes, fmt.Sprintf("**Shortened run**: the window was %v (HARVNET_BENCH_IDLE), not the issue's 5 minutes; CPU accounting counts in 10 ms ticks, so a short window reads coarsely.", b.idle))
	}
	if err := b.waitUplink(ctx, "eth1"); err != nil {
		return f, err
	}
	time.Sleep(15 * time.Second) // let the last figure's repairs and status writes land
	agent, err := b.agentProc()
	if err != nil {
		return f, err
	}
	ctrl, err := b.controllerProc()
	if err != nil {
		return f, err
	}
	base, err := scrapeWrites(ctx, b.kube)
	if err != nil {
		return f, err
	}
	ac, err := startCPU(agent)
	if err != nil {
		return f, err
	}
	cc, err := startCPU(ctrl)
	if err != nil {
		return f, err
	}
	select {
	case <-ctx.Done():
		return f, ctx.Err()
	case <-time.After(b.idle):
	}
	apct, err1 := ac.percent()
	cpct, err2 := cc.percent()
	after, err3 := scrapeWrites(ctx, b.kube)
	for _, err := range []error{err1, err2, err3} {
		if err != nil {
			return f, err
		}
	}
	writes := after.since(base)
	harvnet := func(k string) bool {
		return strings.HasPrefix(k, "network.harvesterhci.io/") || k == "/events" || strings.HasPrefix(k, "k8s.cni.cncf.io/") || k == "/nodes" || k == "/nodes/status"
	}
	wRow := Row{What: "API writes to harvnet's objects, NADs, core Nodes and Events", Value: writes.sum(harvnet), Unit: "writes"}
	wRow.judge(0.5, 0, "0")
	other := Row{What: "other API writes (Leases: the controller's leader election, the API server's own)", Value: writes.sum(func(k string) bool { return !harvnet(k) }), Unit: "writes"}
	aRow := Row{What: "agent CPU", Value: apct, Unit: "% of a core"}
	aRow.judge(0.5, 0.1, "< 0.1% of a core")
	cRow := Row{What: "controller CPU", Value: cpct, Unit: "% of a core"}
	cRow.judge(0.5, 0.1, "< 0.1% of a core")
	f.Rows = append(f.Rows, wRow, other, aRow, cRow)
	f.Notes = append(f.Notes, "All writes in the window, by resource: "+writes.String()+".")
	if rss, err := agent.memMiB("VmRSS"); err == nil {
		b.rep.Extra = append(b.rep.Extra, fmt.Sprintf("agent RSS at rest (VmRSS after the idle window, one node, uplink eth1): %.1f MiB", rss))
	}
	if rss, err := ctrl.memMiB("VmRSS"); err == nil {
		b.rep.Extra = append(b.rep.Extra, fmt.Sprintf("controller RSS at rest (one node): %.1f MiB", rss))
	}
	return f, nil
}
