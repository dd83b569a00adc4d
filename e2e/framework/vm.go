package framework

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/harvnet/harvnet/pkg/generated/clientset/versioned"
)

// The VM tier (scripts/vm-test.sh, e2e/vm/README.md) splits a cluster in
// two: the control plane and the controller run on the host, the nodes and
// their agents in namespaces inside a qemu VM with a full kernel. qemu's
// user-mode network (restrict=on) gives the guest exactly one way out: a
// guestfwd that turns each guest connection to GuestAPIAddr into a
// connection to the API server on the host's 127.0.0.1. The API server's
// certificate names 10.0.2.100 (scripts/controlplane-up.sh).
const (
	GuestAPIAddr = "10.0.2.100:6443"
	// GuestAPIServer is the URL a program in the VM's own namespace uses.
	GuestAPIServer = "https://" + GuestAPIAddr
	// NodeAPIServer is the URL an agent in a node namespace uses, as on a
	// real node: a relay there forwards 127.0.0.1:6443 to GuestAPIAddr.
	NodeAPIServer = "https://127.0.0.1:6443"
)

// StartVMHost is the host half of the VM tier: it starts the control plane,
// installs manifests/ and the NAD CRD, and starts the controller with bin's
// harvnet-controller. There is no switch and no node: those live in the VM.
// Close the returned Cluster (also after an error) to stop everything.
func StartVMHost(root, dir, bin string) (*Cluster, error) {
	c := &Cluster{Root: root, Dir: dir, Bin: bin, Nodes: map[string]*RunningNode{}}
	if err := c.install(); err != nil {
		return c, err
	}
	return c, c.StartController()
}

// WriteKubeconfigAt writes a kubeconfig for user ("admin" or one of the
// identities above) that talks to server, at path.
func (c *ControlPlane) WriteKubeconfigAt(user, server, path string) error {
	cfg, err := clientcmd.LoadFromFile(c.AdminKubeconfig())
	if err != nil {
		return err
	}
	for _, cl := range cfg.Clusters {
		cl.Server = server
	}
	if user != "admin" {
		tok, ok := c.tokens[user]
		if !ok {
			return fmt.Errorf("no token for %q", user)
		}
		for _, a := range cfg.AuthInfos {
			a.Token = tok
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// Guest is the VM half of the VM tier: a switch and nodes in namespaces
// inside the VM, each node with a relay and an agent, driven through a
// control plane that runs elsewhere (the host, behind qemu's guestfwd).
type Guest struct {
	Dir, Prefix string
	// Agent is the harvnet-agent binary; AgentKubeconfig talks to
	// NodeAPIServer, UpstreamAddr is where the relays forward to.
	Agent, AgentKubeconfig, UpstreamAddr string
	// AgentArgs are extra flags for every agent.
	AgentArgs []string
	Switch    *Switch
	Nodes     map[string]*RunningNode
	Clients
}

// NewGuest builds clients from adminKubeconfig, waits up to wait for the
// API server to answer, and creates the switch namespace.
func NewGuest(ctx context.Context, dir, prefix, agent, adminKubeconfig, agentKubeconfig, upstream string, wait time.Duration) (*Guest, error) {
	g := &Guest{Dir: dir, Prefix: prefix, Agent: agent, AgentKubeconfig: agentKubeconfig, UpstreamAddr: upstream, Nodes: map[string]*RunningNode{}}
	for _, f := range []string{agent, adminKubeconfig, agentKubeconfig} {
		if _, err := os.Stat(f); err != nil {
			return g, err
		}
	}
	admin, err := clientcmd.BuildConfigFromFlags("", adminKubeconfig)
	if err != nil {
		return g, err
	}
	admin.Timeout = 20 * time.Second
	if g.Kube, err = kubernetes.NewForConfig(admin); err != nil {
		return g, err
	}
	if g.Net, err = versioned.NewForConfig(admin); err != nil {
		return g, err
	}
	if g.NADs, err = NewNADs(admin); err != nil {
		return g, err
	}
	if err := WaitAPI(ctx, g.Kube, upstream, wait); err != nil {
		return g, err
	}
	g.Switch, err = NewSwitch(prefix)
	return g, err
}

// WaitAPI waits until the API server behind upstream answers /readyz.
func WaitAPI(ctx context.Context, kube kubernetes.Interface, upstream string, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	var last error
	for {
		c, err := net.DialTimeout("tcp", upstream, 5*time.Second)
		if err == nil {
			c.Close()
			_, err = kube.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		}
		if err == nil {
			return nil
		}
		last = err
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the API server at %s did not answer within %v: %v", upstream, wait, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// AddNode creates the core Node object and the node's namespace, relay and agent.
func (g *Guest) AddNode(ctx context.Context, name string) (*RunningNode, error) {
	core := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := g.Kube.CoreV1().Nodes().Create(ctx, core, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	n, err := NewNode(g.Switch, g.Prefix, name, freeIndex(g.Nodes))
	rn := &RunningNode{Node: n}
	g.Nodes[name] = rn
	if err != nil {
		return rn, err
	}
	if rn.Relay, err = NewRelay(n.Path(), "6443", g.UpstreamAddr); err != nil {
		return rn, err
	}
	return rn, g.StartAgent(name)
}

// StartAgent starts (or restarts) a node's agent inside its namespace.
func (g *Guest) StartAgent(name string) error {
	rn := g.Nodes[name]
	// A pod-bound token naming the node, as the kubelet gives a real agent:
	// the admission policy admits only its own object's changes.
	tctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kubeconfig, err := NodeAgentKubeconfig(tctx, g.Kube, g.AgentKubeconfig, g.Dir, name)
	if err != nil {
		return err
	}
	args := []string{"ip", "netns", "exec", rn.NS.Name, g.Agent,
		"--kubeconfig", kubeconfig, "--node-name", name,
		"--uplink-types", "device,bond,veth", "--state-dir", filepath.Join(g.Dir, "state-"+name),
		"--metrics-addr", "0", "--health-addr", "0"}
	rn.Agent, err = StartProcess("agent-"+name, g.AgentLog(name), false, append(args, g.AgentArgs...)...)
	return err
}

// AgentLog is the path of a node's agent log.
func (g *Guest) AgentLog(name string) string { return filepath.Join(g.Dir, "agent-"+name+".log") }

// Close stops the agents and relays and removes every namespace.
func (g *Guest) Close() { closeNodes(g.Nodes, g.Switch) }
