package deploy

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/harvnet/harvnet/pkg/generated/clientset/versioned"
)

// Cluster is the kubelet cluster scripts/cluster-up.sh brought up: the API
// server lives in the control-plane network namespace, so every client
// here (kubectl, helm, client-go) talks to it from inside that namespace.
type Cluster struct {
	Root, Dir, Prefix string
	Kube              kubernetes.Interface
	Net               versioned.Interface
}

// Nodes are the kubelet nodes' names; node i (from 1) has 10.77.0.1i on eth0.
var Nodes = []string{"n1", "n2"}

// MgmtAddr is a node's management address.
func MgmtAddr(node string) string { return "10.77.0.1" + strings.TrimPrefix(node, "n") }

// NS is the network namespace of a node or of "cp" / "sw".
func (c *Cluster) NS(name string) string { return c.Prefix + "-" + name }

// In runs a command inside a network namespace (nsenter keeps this
// process's mounts, ip netns exec would remount /sys) and returns its
// combined output.
func (c *Cluster) In(ns string, name string, args ...string) (string, error) {
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + c.NS(ns), name}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig(), "HELM_CACHE_HOME="+filepath.Join(c.Dir, "helm", "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(c.Dir, "helm", "config"), "HELM_DATA_HOME="+filepath.Join(c.Dir, "helm", "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s (in %s): %v: %s", name, strings.Join(args, " "), ns, err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// File writes a manifest under the cluster's directory (kubectl -f splits
// paths at commas, which subtest temp dirs have) and returns its path.
func (c *Cluster) File(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(c.Dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Kubeconfig is the admin's.
func (c *Cluster) Kubeconfig() string { return filepath.Join(c.Dir, "admin.kubeconfig") }

// Kubectl runs bin/kubectl as admin.
func (c *Cluster) Kubectl(args ...string) (string, error) {
	return c.In("cp", filepath.Join(c.Root, "bin", "kubectl"), args...)
}

// Helm runs bin/helm as admin.
func (c *Cluster) Helm(args ...string) (string, error) {
	return c.In("cp", filepath.Join(c.Root, "bin", "helm"), args...)
}

// Node runs a command in a node's network namespace.
func (c *Cluster) Node(node, name string, args ...string) (string, error) {
	return c.In(node, name, args...)
}

// connect builds the clients; their sockets are made inside the control
// plane's network namespace.
func (c *Cluster) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		return err
	}
	cfg.Dial = DialIn("/run/netns/" + c.NS("cp"))
	cfg.Timeout = 30 * time.Second
	if c.Kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return err
	}
	c.Net, err = versioned.NewForConfig(cfg)
	return err
}

// DialIn returns a dialer whose sockets belong to the network namespace at
// nsPath: a socket keeps the namespace it was created in, so only its
// creation runs on a thread switched there (and that thread is discarded).
func DialIn(nsPath string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			conn net.Conn
			err  error
		}
		ch := make(chan result, 1)
		go func() {
			// Never unlocked: the thread dies with this goroutine instead of
			// going back to the pool in another namespace.
			runtime.LockOSThread()
			fd, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				ch <- result{err: err}
				return
			}
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			_ = unix.Close(fd)
			if err != nil {
				ch <- result{err: fmt.Errorf("setns %s: %w", nsPath, err)}
				return
			}
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			ch <- result{conn, err}
		}()
		r := <-ch
		return r.conn, r.err
	}
}

// Eventually polls cond until it returns "" or the deadline passes; the
// last message says what was still wrong.
func Eventually(t *testing.T, within time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	msg := cond()
	for msg != "" {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, msg)
		}
		time.Sleep(500 * time.Millisecond)
		msg = cond()
	}
}

// HostState is what an agent may change on a node, as the kernel reports
// it: links (with master and state, so bridge ports), addresses, routes.
// Counters and timers are left out so an unchanged host compares equal.
func (c *Cluster) HostState(t *testing.T, node string) string {
	t.Helper()
	// An IPv6 address gets its local route only once duplicate address
	// detection is over: a snapshot of a node whose links just came up
	// differs from a later one without anything having changed it (a
	// fresh-clone run failed so, the "before" taken right after cluster-up).
	Eventually(t, 30*time.Second, func() string {
		out, err := exec.Command("nsenter", "--net=/run/netns/"+c.NS(node), "ip", "-6", "-o", "addr", "show", "tentative").Output()
		if err != nil {
			return err.Error()
		}
		if s := strings.TrimSpace(string(out)); s != "" {
			return node + ": addresses still in duplicate address detection: " + s
		}
		return ""
	})
	var b strings.Builder
	for _, args := range [][]string{
		// -o link shows each link's master (so bridge ports) and state;
		// `bridge link` is not used: it fails at random on veths whose peer
		// is in another namespace ("Peer netns reference is invalid").
		{"ip", "-o", "link", "show"},
		{"ip", "-br", "addr", "show"},
		{"ip", "route", "show", "table", "all"},
		{"ip", "-6", "route", "show", "table", "all"},
	} {
		// stdout only: ip may print "Peer netns reference is invalid" on
		// stderr at random while other namespaces come and go.
		cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + c.NS(node)}, args...)...)
		raw, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s in %s: %v", strings.Join(args, " "), node, err)
		}
		out := string(raw)
		// Pod sandboxes come and go on cni0 (the controller's pods): their
		// veths are the pod network's, not the agent's.
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "veth") || strings.Contains(l, "cni0") {
				continue
			}
			fmt.Fprintln(&b, l)
		}
	}
	return b.String()
}
