package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

const (
	vmPorts    = 500
	stormFor   = 60 * time.Second
	flapsPerS  = 5
	vmPortNote = "VM ports are tap devices (kind `tuntap`), not veths: the netns nodes' NICs are veths, so these agents must accept veth as an uplink type (`--uplink-types device,bond,veth`, as in e2e), and VM veths would then be listed as NICs; on a real node (`--uplink-types device,bond`) the host ends of VMs' veths are left out the same way. The kernel work per port (create, enslave, up, delete, and their netlink events) is the same."
)

// ipBatch runs ip commands in bn1's namespace in one process.
func (b *bench) ipBatch(ctx context.Context, lines []string) error {
	cmd := exec.CommandContext(ctx, "ip", "-n", b.node.NS.Name, "-batch", "-")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -batch: %v: %s", err, out)
	}
	return nil
}

func addVMPortLines(n int) []string {
	var l []string
	for i := 0; i < n; i++ {
		l = append(l, fmt.Sprintf("tuntap add mode tap dev vm%d", i), fmt.Sprintf("link set vm%d master %s up", i, framework.Bridge))
	}
	return l
}

func delVMPortLines(n int) []string {
	var l []string
	for i := 0; i < n; i++ {
		l = append(l, fmt.Sprintf("link del vm%d", i))
	}
	return l
}

// statusSize is figure 8: a node with 4 NICs and 500 VM ports.
func (b *bench) statusSize(ctx context.Context) (*Figure, error) {
	f := &Figure{ID: "8", Title: "Status size",
		How:   fmt.Sprintf("Node %s gets a fourth NIC (eth3) and %d VM ports on the bridge; once its status lists eth3 (the periodic resync that saw the ports too), the object is read raw from the API server (JSON, as stored and served).", nodeName, vmPorts),
		Notes: []string{vmPortNote}}
	if err := b.node.Plug("eth3", nodeName+"-eth3", framework.DataSwitch); err != nil {
		return f, err
	}
	if err := b.ipBatch(ctx, addVMPortLines(vmPorts)); err != nil {
		return f, err
	}
	defer func() { _ = b.ipBatch(context.Background(), delVMPortLines(vmPorts)) }()
	var n *v1alpha1.Node
	if err := eventually(ctx, time.Minute, func() string {
		var err error
		if n, err = b.net.NetworkV1alpha1().Nodes().Get(ctx, nodeName, metav1.GetOptions{}); err != nil {
			return err.Error()
		}
		if !slices.ContainsFunc(n.Status.NICs, func(nic v1alpha1.NIC) bool { return nic.Name == "eth3" }) {
			return "status does not list eth3 yet"
		}
		return ""
	}); err != nil {
		return f, err
	}
	raw, err := b.net.NetworkV1alpha1().RESTClient().Get().Resource("nodes").Name(nodeName).DoRaw(ctx)
	if err != nil {
		return f, err
	}
	st, _ := json.Marshal(n.Status)
	obj := Row{What: "the Node object (JSON as served)", Value: float64(len(raw)) / 1024, Unit: "KiB"}
	obj.judge(0.5, 16, "< 16 KiB")
	f.Rows = append(f.Rows, obj, Row{What: "of which status", Value: float64(len(st)) / 1024, Unit: "KiB"})
	f.Notes = append(f.Notes, fmt.Sprintf("Status lists %d NICs and %d interfaces in networkStatus; no VM port is listed one by one.", len(n.Status.NICs), len(n.Status.NetworkStatus)))
	return f, nil
}

// churnStorm is figure 3.
func (b *bench) churnStorm(ctx context.Context) (*Figure, error) {
	f := &Figure{ID: "3", Title: "VM churn storm",
		How:   fmt.Sprintf("On node %s (uplink eth1, agent at its defaults, just restarted so VmHWM is the storm's), for %v: %d VM ports are created, put on the bridge and up, and deleted again, in a loop (one `ip -batch` per half round), while the uplink's peer in the switch namespace goes down and up %d times a second. CPU is the agent's user+system time from /proc/<pid>/stat over the storm; memory is VmHWM from /proc/<pid>/status; status writes are the API server's own apiserver_request_total for harvnet's nodes (and nodes/status) over the storm. Then this process compares status with the kernel until they agree.", nodeName, stormFor, vmPorts, flapsPerS),
		Notes: []string{vmPortNote}}
	if err := b.restartAgent(); err != nil {
		return f, err
	}
	if err := b.waitUplink(ctx, "eth1"); err != nil {
		return f, err
	}
	agent, err := b.agentProc()
	if err != nil {
		return f, err
	}
	sw, swNS, err := nlIn(b.c.Switch.Name)
	if err != nil {
		return f, err
	}
	defer swNS.Close()
	defer sw.Delete()
	peer, err := sw.LinkByName(nodeName + "-eth1")
	if err != nil {
		return f, err
	}
	base, err := scrapeWrites(ctx, b.kube)
	if err != nil {
		return f, err
	}
	cpu, err := startCPU(agent)
	if err != nil {
		return f, err
	}
	sctx, stop := context.WithTimeout(ctx, stormFor)
	defer stop()
	var rounds, flaps atomic.Int64
	wait := b.storm(sctx, sw, peer, &rounds, &flaps)
	<-sctx.Done()
	pct, cerr := cpu.percent()
	elapsed := time.Since(cpu.start)
	after, werr := scrapeWrites(ctx, b.kube)
	if err := wait(); err != nil {
		return f, err
	}
	if cerr != nil {
		return f, cerr
	}
	if werr != nil {
		return f, werr
	}
	hwm, err := agent.memMiB("VmHWM")
	if err != nil {
		return f, err
	}
	writes := after.since(base)
	cpuRow := Row{What: "agent CPU, average over the storm", Value: pct, Unit: "% of a core"}
	cpuRow.judge(0.5, 5, "<= 5% of one core")
	memRow := Row{What: "agent VmHWM", Value: hwm, Unit: "MiB"}
	memRow.judge(0.5, 50, "<= 50 MiB")
	wRow := Row{What: "status writes per second (API server's count)", Value: writes.sum(harvnetNodes) / elapsed.Seconds(), Unit: "/s"}
	wRow.judge(0.5, 2, "<= 2/s on average")
	f.Rows = append(f.Rows, cpuRow, memRow, wRow)
	f.Notes = append(f.Notes, fmt.Sprintf("The storm made %d full rounds of %d ports (%d ports attached and removed) and %d uplink flaps in %v. Writes by resource over the storm: %s.", rounds.Load(), vmPorts, rounds.Load()*vmPorts, flaps.Load(), elapsed.Round(time.Millisecond), writes))

	// Then status must equal the kernel exactly.
	end := time.Now()
	nh, nodeNS, err := nlIn(b.node.NS.Name)
	if err != nil {
		return f, err
	}
	defer nodeNS.Close()
	defer nh.Delete()
	why := ""
	eqErr := eventually(ctx, time.Minute, func() string {
		n, err := b.net.NetworkV1alpha1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		why = statusVersusKernel(nh, n)
		return why
	})
	eq := Row{What: "status equals the kernel after the storm", Unit: "s after the storm", Value: time.Since(end).Seconds()}
	eq.Goal = "equal"
	met := eqErr == nil
	eq.Met = &met
	eq.Margin = "status and kernel agree"
	if !met {
		eq.Margin = "still differs after a minute: " + why
	}
	f.Rows = append(f.Rows, eq)
	if cpuRow.Met != nil && !*cpuRow.Met {
		f.Notes = append(f.Notes, b.stormProfile(ctx, sw, peer))
	}
	return f, nil
}

// statusVersusKernel says "" when every interface status shows (the NIC
// inventory and networkStatus) matches the kernel, and the inventory lists
// every link of an uplink type; else the first difference.
func statusVersusKernel(nh *netlink.Handle, n *v1alpha1.Node) string {
	links, err := nh.LinkList()
	if err != nil {
		return err.Error()
	}
	byName, byIndex := map[string]netlink.Link{}, map[int]string{}
	for _, l := range links {
		byName[l.Attrs().Name] = l
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	same := func(name string, index int, mac string, mtu int, master string, state v1alpha1.LinkState) string {
		l, ok := byName[name]
		if !ok {
			return name + " is in status but not in the kernel"
		}
		a := l.Attrs()
		up := a.Flags&net.FlagUp != 0 && a.OperState == netlink.OperUp
		switch {
		case a.Index != index:
			return fmt.Sprintf("%s: index %d in status, %d in the kernel", name, index, a.Index)
		case a.HardwareAddr.String() != mac:
			return fmt.Sprintf("%s: MAC %s in status, %s in the kernel", name, mac, a.HardwareAddr)
		case a.MTU != mtu:
			return fmt.Sprintf("%s: MTU %d in status, %d in the kernel", name, mtu, a.MTU)
		case byIndex[a.MasterIndex] != master:
			return fmt.Sprintf("%s: master %q in status, %q in the kernel", name, master, byIndex[a.MasterIndex])
		case (state == v1alpha1.LinkUp) != up:
			return fmt.Sprintf("%s: %s in status, operstate %s in the kernel", name, state, a.OperState)
		}
		return ""
	}
	listed := map[string]bool{}
	for _, nic := range n.Status.NICs {
		listed[nic.Name] = true
		if why := same(nic.Name, nic.Index, nic.MAC, nic.MTU, nic.Master, nic.LinkStatus); why != "" {
			return "nics: " + why
		}
	}
	for _, l := range links {
		if t := l.Type(); (t == "veth" || t == "device" || t == "bond") && l.Attrs().Flags&net.FlagLoopback == 0 && !listed[l.Attrs().Name] {
			return "nics: " + l.Attrs().Name + " is in the kernel but not in status"
		}
	}
	names := make([]string, 0, len(n.Status.NetworkStatus))
	for name := range n.Status.NetworkStatus {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ls := n.Status.NetworkStatus[name]
		if why := same(name, ls.Index, ls.MAC, ls.MTU, ls.Master, ls.LinkStatus); why != "" {
			return "networkStatus: " + why
		}
		addrs, err := nh.AddrList(byName[name], netlink.FAMILY_V4)
		if err != nil {
			return err.Error()
		}
		var v4 []string
		for _, a := range addrs {
			if a.Scope == 0 {
				v4 = append(v4, a.IPNet.String())
			}
		}
		sort.Strings(v4)
		if !slices.Equal(v4, ls.IPv4Address) {
			return fmt.Sprintf("networkStatus: %s: IPv4 %v in status, %v in the kernel", name, ls.IPv4Address, v4)
		}
	}
	return ""
}

func (w apiWrites) String() string {
	if len(w) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(w))
	for k := range w {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "`%s` %.0f", k, w[k])
	}
	return b.String()
}

// storm churns VM ports and flaps the uplink's peer until ctx ends; the
// returned wait waits for both to stop and says the first error.
func (b *bench) storm(ctx context.Context, sw *netlink.Handle, peer netlink.Link, rounds, flaps *atomic.Int64) (wait func() error) {
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			// The batches run to the end even when the storm's time is
			// up, so no port is left half made.
			if err := b.ipBatch(context.Background(), addVMPortLines(vmPorts)); err != nil {
				errs <- err
				return
			}
			if err := b.ipBatch(context.Background(), delVMPortLines(vmPorts)); err != nil {
				errs <- err
				return
			}
			rounds.Add(1)
		}
	}()
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second / (2 * flapsPerS))
		defer t.Stop()
		down := false
		for {
			select {
			case <-ctx.Done():
				if err := sw.LinkSetUp(peer); err != nil {
					errs <- err
				}
				return
			case <-t.C:
			}
			down = !down
			var err error
			if down {
				err = sw.LinkSetDown(peer)
			} else {
				err = sw.LinkSetUp(peer)
				flaps.Add(1)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	return func() error {
		wg.Wait()
		close(errs)
		return <-errs
	}
}

// stormProfile runs the storm again for a shorter while with the agent's
// --profiling on (never in the measured storm: the profiler costs CPU
// too), and says where the agent's CPU goes.
func (b *bench) stormProfile(ctx context.Context, sw *netlink.Handle, peer netlink.Link) string {
	const profileFor = 30 * time.Second
	fail := func(err error) string { return "No profile of the storm: " + err.Error() }
	if err := b.restartAgent("--metrics-addr", "127.0.0.1:9101", "--profiling"); err != nil {
		return fail(err)
	}
	defer func() { _ = b.restartAgent() }()
	if err := b.waitUplink(ctx, "eth1"); err != nil {
		return fail(err)
	}
	// The agent listens on its namespace's loopback, once it has started
	// (the object's status may still be the last agent's).
	if err := eventually(ctx, 30*time.Second, func() string {
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", b.node.NS.Name, "curl", "-sSf", "-o", "/dev/null", "http://127.0.0.1:9101/debug/pprof/").CombinedOutput()
		if err != nil {
			return fmt.Sprintf("%v: %s", err, out)
		}
		return ""
	}); err != nil {
		return fail(err)
	}
	dir, err := os.MkdirTemp("", "harvnet-bench-storm-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	prof := filepath.Join(dir, "cpu.out")
	sctx, stop := context.WithTimeout(ctx, profileFor+2*time.Second)
	defer stop()
	var rounds, flaps atomic.Int64
	wait := b.storm(sctx, sw, peer, &rounds, &flaps)
	out, cerr := exec.CommandContext(ctx, "ip", "netns", "exec", b.node.NS.Name, "curl", "-sSf", "-o", prof,
		fmt.Sprintf("http://127.0.0.1:9101/debug/pprof/profile?seconds=%d", int(profileFor.Seconds()))).CombinedOutput()
	stop()
	if err := wait(); err != nil {
		return fail(err)
	}
	if cerr != nil {
		return fail(fmt.Errorf("curl: %v: %s", cerr, out))
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-cum", filepath.Join(b.root, "bin", "harvnet-agent"), prof).Output()
	if err != nil {
		return fail(err)
	}
	return "Where the agent's CPU goes in the storm (a second, " + profileFor.String() + " storm with `--profiling`, CPU profile; each function's cumulative share of all samples, so they overlap): " + profileShares(string(top)) + "."
}

// profileShares picks the functions that say why from `pprof -top -cum`.
func profileShares(top string) string {
	var total float64
	var parts []string
	for _, l := range strings.Split(top, "\n") {
		if strings.Contains(l, "samples =") {
			// "Duration: 30s, Total samples = 4.1s (13.6%)"
			if i := strings.Index(l, "Total samples = "); i >= 0 {
				total = seconds(strings.Fields(l[i+len("Total samples = "):])[0])
			}
			continue
		}
		fs := strings.Fields(l)
		if len(fs) < 6 || total == 0 {
			continue
		}
		name := fs[5]
		for _, want := range []struct{ fn, what string }{
			{"github.com/harvnet/harvnet/pkg/hostloop.(*Loop).pass", "reconcile passes"},
			{"github.com/harvnet/harvnet/pkg/hostnet.(*Host).Observe", "full reads (resync)"},
			{"github.com/harvnet/harvnet/pkg/hostnet.(*Host).ObserveScoped", "event-pass reads"},
			{"github.com/harvnet/harvnet/pkg/hostnet.(*Host).RefreshNetfilter", "netfilter re-reads"},
			{"github.com/harvnet/harvnet/pkg/monitor.(*Monitor).subscribeOnce", "handling netlink events"},
			{"github.com/vishvananda/netlink.LinkDeserialize", "parsing link messages"},
			{"github.com/harvnet/harvnet/pkg/status.Build", "building status"},
			{"github.com/harvnet/harvnet/pkg/agent.(*writer).run", "writing status"},
			{"runtime.gcBgMarkWorker", "garbage collection"},
		} {
			if name == want.fn {
				parts = append(parts, fmt.Sprintf("%s %.0f%%", want.what, 100*seconds(fs[3])/total))
			}
		}
	}
	if len(parts) == 0 {
		return "(no known function in the profile)"
	}
	return strings.Join(parts, ", ")
}

// seconds reads pprof's "1.23s" or "450ms".
func seconds(v string) float64 {
	if strings.HasSuffix(v, "ms") {
		f, _ := strconv.ParseFloat(strings.TrimSuffix(v, "ms"), 64)
		return f / 1000
	}
	f, _ := strconv.ParseFloat(strings.TrimSuffix(v, "s"), 64)
	return f
}
