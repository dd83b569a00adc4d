package deploy

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rollingUpdate rebuilds the image under a second tag, loads it into both
// nodes and upgrades the release to it. The agents must restart one node
// at a time (a new pod only after the previous one was Ready for
// minReadySeconds), an agent being replaced must leave its host exactly
// as it was, and a management address pinged every 10 ms through the
// whole update loses nothing.
func rollingUpdate(t *testing.T, c *Cluster) {
	tag := imageTag + "-b"
	archive := strings.TrimSpace(lastLine(script(t, c, []string{"TAG=" + tag}, "scripts/image.sh")))
	for _, n := range Nodes {
		out, err := exec.Command(filepath.Join(c.Root, "bin", "ctr"), "-a", filepath.Join(c.Dir, "nodes", n, "containerd.sock"),
			"-n", "k8s.io", "images", "import", archive).CombinedOutput()
		if err != nil {
			t.Fatalf("importing %s into %s: %v: %s", archive, n, err, out)
		}
	}
	// Every agent must count as available (Ready for minReadySeconds)
	// first: the DaemonSet controller replaces unavailable pods regardless
	// of maxUnavailable, which would not be a node-by-node rollout.
	Eventually(t, wait, func() string {
		ds, err := c.Kube.AppsV1().DaemonSets(ns).Get(ctx(t), "harvnet-agent", metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if st := ds.Status; st.NumberAvailable != st.DesiredNumberScheduled || st.DesiredNumberScheduled != int32(len(Nodes)) {
			return fmt.Sprintf("agents available %d of %d", st.NumberAvailable, st.DesiredNumberScheduled)
		}
		return ""
	})
	settled := map[string]string{}
	for _, n := range Nodes {
		settled[n] = c.HostState(t, n)
	}
	old := agentPods(t, c)

	// n2's management address sits on the bridge (step 2); n1's on eth0.
	var pings []*pinger
	for _, n := range Nodes {
		p, err := startPing(c, MgmtAddr(n))
		if err != nil {
			t.Fatal(err)
		}
		pings = append(pings, p)
	}
	// Never both agents down: sample the Ready agents through the update.
	stop := make(chan struct{})
	var mu sync.Mutex
	minReady := len(Nodes)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			l, err := c.Kube.CoreV1().Pods(ns).List(ctx(t), metaSelector("app.kubernetes.io/name=harvnet-agent"))
			if err != nil {
				continue
			}
			r := len(slices.DeleteFunc(l.Items, func(p corev1.Pod) bool { return !ready(p) }))
			mu.Lock()
			minReady = min(minReady, r)
			mu.Unlock()
		}
	}()

	out, err := c.Helm("upgrade", "harvnet", filepath.Join(c.Root, "manifests", "chart", "harvnet"), "-n", ns,
		"--reuse-values", "--set", "image.tag="+tag, "--wait", "--timeout", "5m")
	if err != nil {
		close(stop)
		t.Fatalf("%v\n%s", err, describe(c))
	}
	t.Log(lastLine(out))
	var updated map[string]corev1.Pod
	Eventually(t, wait, func() string {
		updated = agentPods(t, c)
		for _, n := range Nodes {
			p, ok := updated[n]
			if !ok || p.UID == old[n].UID || !strings.HasSuffix(p.Spec.Containers[0].Image, ":"+tag) {
				return fmt.Sprintf("%s: agent not yet replaced by a Ready %s pod", n, tag)
			}
		}
		return ""
	})
	close(stop)
	wg.Wait()

	var lost []string
	for _, p := range pings {
		sent, got, err := p.stop()
		if err != nil {
			t.Error(err)
			continue
		}
		t.Logf("ping %s every 10 ms: %d sent, %d answered", p.addr, sent, got)
		if sent < 100 || got != sent {
			lost = append(lost, fmt.Sprintf("%s: %d of %d answered", p.addr, got, sent))
		}
	}
	if len(lost) > 0 {
		t.Errorf("pings lost during the update: %v", lost)
	}
	if minReady < len(Nodes)-1 {
		t.Errorf("%d agents Ready at one point of the update; maxUnavailable 1 allows %d", minReady, len(Nodes)-1)
	}
	// One at a time: the second new pod was created only after the first
	// had been Ready for minReadySeconds (10 s).
	a, b := updated[Nodes[0]].CreationTimestamp.Time, updated[Nodes[1]].CreationTimestamp.Time
	if gap := a.Sub(b).Abs(); gap < 10*time.Second {
		t.Errorf("new agent pods created %v apart, want one node at a time (>= minReadySeconds 10s)", gap)
	}
	for _, n := range Nodes {
		if now := c.HostState(t, n); now != settled[n] {
			t.Errorf("%s changed through the update:\nbefore:\n%s\nafter:\n%s", n, settled[n], now)
		}
	}
	imageTag = tag
}

// pinger is `ping -i 0.01` from the control plane's namespace.
type pinger struct {
	addr string
	cmd  *exec.Cmd
	out  bytes.Buffer
}

func startPing(c *Cluster, addr string) (*pinger, error) {
	p := &pinger{addr: addr}
	p.cmd = exec.Command("nsenter", "--net=/run/netns/"+c.NS("cp"), "ping", "-n", "-q", "-i", "0.01", "-W", "1", addr)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	return p, p.cmd.Start()
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (packets )?received`)

// stop ends ping with SIGINT, which makes it print its summary.
func (p *pinger) stop() (sent, got int, err error) {
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	_ = p.cmd.Wait()
	m := pingSummary.FindStringSubmatch(p.out.String())
	if m == nil {
		return 0, 0, fmt.Errorf("ping %s: no summary in %q", p.addr, p.out.String())
	}
	sent, _ = strconv.Atoi(m[1])
	got, _ = strconv.Atoi(m[2])
	return sent, got, nil
}

func metaSelector(s string) metav1.ListOptions { return metav1.ListOptions{LabelSelector: s} }
