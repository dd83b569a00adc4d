package framework

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/harvnet/harvnet/pkg/generated/clientset/versioned"
)

// Cluster is a control plane, a switch, nodes with their agents, and the
// controller, all on this machine.
type Cluster struct {
	Root, Dir, Prefix, Bin string
	CP                     *ControlPlane
	Switch                 *Switch
	Nodes                  map[string]*RunningNode
	Controller             *Process
	Clients
	// AgentArgs are extra flags for every agent.
	AgentArgs []string
	// ControllerArgs are extra flags for the controller.
	ControllerArgs []string
	// ControllerMetrics is the controller's /metrics address on the host:
	// a free port, as several e2e runs may share the host.
	ControllerMetrics string
}

// RunningNode is a node namespace with its relay and agent.
type RunningNode struct {
	*Node
	Relay *Relay
	Agent *Process
}

// NewCluster starts the control plane, installs manifests/ and the NAD CRD,
// and creates the switch. bin holds harvnet-agent and harvnet-controller.
func NewCluster(root, dir, prefix, bin string) (*Cluster, error) {
	c := &Cluster{Root: root, Dir: dir, Prefix: prefix, Bin: bin, Nodes: map[string]*RunningNode{}}
	if err := c.install(); err != nil {
		return c, err
	}
	var err error
	c.Switch, err = NewSwitch(prefix)
	return c, err
}

// install starts the control plane, makes the admin clients, and applies
// the NAD CRD and manifests/.
func (c *Cluster) install() error {
	var err error
	if c.CP, err = StartControlPlane(c.Root, c.Dir); err != nil {
		return err
	}
	admin, err := c.CP.Admin()
	if err != nil {
		return err
	}
	if c.Kube, err = kubernetes.NewForConfig(admin); err != nil {
		return err
	}
	if c.Net, err = versioned.NewForConfig(admin); err != nil {
		return err
	}
	if c.NADs, err = NewNADs(admin); err != nil {
		return err
	}
	for _, args := range [][]string{
		// The manifests never own harvester-system (Harvester does); a fresh control plane lacks it.
		{"create", "namespace", "harvester-system"},
		{"apply", "-f", filepath.Join(c.Root, "crds", "k8s.cni.cncf.io_network-attachment-definitions.yaml")},
		{"apply", "-k", filepath.Join(c.Root, "manifests")},
		{"wait", "--for", "condition=Established", "crd", "--all", "--timeout", "60s"},
	} {
		if _, err := c.Kubectl(args...); err != nil {
			return err
		}
	}
	return nil
}

// Kubectl runs bin/kubectl as admin.
func (c *Cluster) Kubectl(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(c.Root, "bin", "kubectl"), append([]string{"--kubeconfig", c.CP.AdminKubeconfig()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// AddNode creates the core Node object and the node's namespace, relay and agent.
func (c *Cluster) AddNode(ctx context.Context, name string) (*RunningNode, error) {
	core := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := c.Kube.CoreV1().Nodes().Create(ctx, core, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	n, err := NewNode(c.Switch, c.Prefix, name, freeIndex(c.Nodes))
	rn := &RunningNode{Node: n}
	c.Nodes[name] = rn
	if err != nil {
		return rn, err
	}
	if rn.Relay, err = NewRelay(n.Path(), "6443", fmt.Sprintf("127.0.0.1:%d", c.CP.Port)); err != nil {
		return rn, err
	}
	return rn, c.StartAgent(name)
}

// RemoveNode ends a node's agent and relay and deletes its namespace and
// the agent's state, so a node added again under its name starts afresh.
// Its core Node and object are the caller's business.
func (c *Cluster) RemoveNode(name string) error {
	rn, ok := c.Nodes[name]
	if !ok {
		return nil
	}
	delete(c.Nodes, name)
	closeNode(rn)
	return os.RemoveAll(c.stateDir(name))
}

func (c *Cluster) stateDir(node string) string { return filepath.Join(c.Dir, "state-"+node) }

// StartAgent starts (or restarts) a node's agent inside its namespace.
func (c *Cluster) StartAgent(name string) error {
	var err error
	c.Nodes[name].Agent, err = c.StartAgentAs(name, name)
	return err
}

// StartAgentAs starts an agent in node's namespace, with node's state
// directory, that calls itself nodeName: the wrong name, to test that.
func (c *Cluster) StartAgentAs(node, nodeName string) (*Process, error) {
	rn := c.Nodes[node]
	base, err := c.CP.Kubeconfig(AgentUser, "https://127.0.0.1:6443")
	if err != nil {
		return nil, err
	}
	// A pod-bound token naming nodeName, as the kubelet gives a real agent:
	// the admission policy admits only its own object's changes.
	tctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kubeconfig, err := NodeAgentKubeconfig(tctx, c.Kube, base, c.Dir, nodeName)
	if err != nil {
		return nil, err
	}
	args := []string{"ip", "netns", "exec", rn.NS.Name, filepath.Join(c.Bin, "harvnet-agent"),
		"--kubeconfig", kubeconfig, "--node-name", nodeName,
		"--uplink-types", "device,bond,veth", "--state-dir", c.stateDir(node),
		"--metrics-addr", "0", "--health-addr", "0"}
	return StartProcess("agent-"+nodeName, filepath.Join(c.Dir, "agent-"+nodeName+".log"), false, append(args, c.AgentArgs...)...)
}

// StartController starts harvnet-controller on the host.
func (c *Cluster) StartController() error {
	kubeconfig, err := c.CP.Kubeconfig(ControllerUser, fmt.Sprintf("https://127.0.0.1:%d", c.CP.Port))
	if err != nil {
		return err
	}
	if c.ControllerMetrics, err = freeAddr(); err != nil {
		return err
	}
	c.Controller, err = StartProcess("controller", filepath.Join(c.Dir, "controller.log"), true,
		append([]string{filepath.Join(c.Bin, "harvnet-controller"), "--kubeconfig", kubeconfig, "--health-addr", "0", "--metrics-addr", c.ControllerMetrics}, c.ControllerArgs...)...)
	return err
}

// Close stops every process and removes every namespace; it keeps the logs.
func (c *Cluster) Close() {
	c.Controller.Stop()
	closeNodes(c.Nodes, c.Switch)
	if c.CP != nil {
		_ = c.CP.Stop()
	}
}

// Build compiles the harvnet binaries into dir.
func Build(root, dir string) error {
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/harvnet-agent", "./cmd/harvnet-controller")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v: %s", err, out)
	}
	return nil
}

// closeNodes stops each node's agent and relay, then deletes the node and
// switch namespaces.
func closeNodes(nodes map[string]*RunningNode, sw *Switch) {
	for _, rn := range nodes {
		closeNode(rn)
	}
	sw.Close()
}

// closeNode stops a node's agent and relay and deletes its namespace.
func closeNode(rn *RunningNode) {
	rn.Agent.Stop()
	if rn.Relay != nil {
		rn.Relay.Close()
	}
	rn.Close()
}

// freeIndex is the lowest node index not in use: a node's management
// addresses are free again once it is removed.
func freeIndex(nodes map[string]*RunningNode) int {
	used := map[int]bool{}
	for _, rn := range nodes {
		if rn.Node != nil {
			used[rn.Index] = true
		}
	}
	i := 1
	for used[i] {
		i++
	}
	return i
}
