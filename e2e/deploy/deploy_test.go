package deploy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

const (
	ns     = "harvester-system"
	bridge = "harvester-br0"
	wait   = 3 * time.Minute
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// TestDeploy is the install path on real kubelets: the chart installed with
// helm, the network switched on (a management NIC included), agent and
// leader pods deleted, and the chart uninstalled, with the hosts checked
// through the kernel at each step.
func TestDeploy(t *testing.T) {
	c := setup(t)
	before := map[string]string{}
	for _, n := range Nodes {
		before[n] = c.HostState(t, n)
	}
	nfBefore := map[string]string{}

	install := func(extra ...string) (string, error) {
		return c.Helm(append([]string{"install", "harvnet", filepath.Join(c.Root, "manifests", "chart", "harvnet"), "-n", ns,
			"--set", "image.tag=" + imageTag, "--set", "agent.uplinkTypes=device\\,bond\\,veth",
			"--wait", "--timeout", "5m"}, extra...)...)
	}

	step(t, "0 coexistence: a served v1beta1 clusternetworks CRD makes install refuse", func(t *testing.T) {
		// What a Harvester cluster already has: the namespace (privileged
		// Pod Security: hostNetwork, hostPath, NET_ADMIN) and Harvester's
		// own network controller's clusternetworks CRD at v1beta1. Multus's
		// NetworkAttachmentDefinition CRD comes only in step 2: the agent
		// must not hang without it.
		mustKubectl(t, c, "create", "namespace", ns)
		mustKubectl(t, c, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=privileged")
		mustKubectl(t, c, "apply", "-f", c.File(t, "harvester-clusternetworks.yaml", harvesterCRD))
		mustKubectl(t, c, "wait", "--for", "condition=Established", "crd/clusternetworks.network.harvesterhci.io", "--timeout", "60s")
		out, err := install()
		if err == nil || !strings.Contains(out, "serves v1beta1, not v1alpha1") {
			t.Fatalf("helm install beside Harvester's CRD: err %v, want a refusal naming v1beta1:\n%s", err, out)
		}
		t.Logf("refused: %s", lastLine(out))
		if out, err := c.Helm("status", "harvnet", "-n", ns); err == nil {
			t.Errorf("a release exists after the refusal:\n%s", out)
		}
		if v := mustKubectl(t, c, "get", "crd", "clusternetworks.network.harvesterhci.io", "-o", "jsonpath={.spec.versions[*].name}"); v != "v1beta1" {
			t.Errorf("Harvester's CRD serves %q after the refusal, want v1beta1 untouched", v)
		}
		// The remedy the message names, so the story can go on.
		mustKubectl(t, c, "delete", "crd", "clusternetworks.network.harvesterhci.io", "--wait", "--timeout", "60s")
		for _, n := range Nodes {
			nfBefore[n] = sysctl(t, c, n, "bridge/bridge-nf-call-iptables")
		}
	})

	step(t, "1 helm install: 2 controllers, 1 leader, a Ready agent per node", func(t *testing.T) {
		if out, err := install(); err != nil {
			t.Fatalf("%v\n%s", err, describe(c))
		} else {
			t.Log(out)
		}
		// helm --wait lets a DaemonSet be maxUnavailable short of Ready.
		var ctrl []corev1.Pod
		Eventually(t, wait, func() string {
			if ctrl = controllerPods(t, c); len(ctrl) != 2 {
				return fmt.Sprintf("controller pods Ready: %v, want 2", podNames(ctrl))
			}
			return leaderAmong(t, c, ctrl)
		})
		var agents map[string]corev1.Pod
		Eventually(t, wait, func() string {
			agents = agentPods(t, c)
			for _, n := range Nodes {
				if _, ok := agents[n]; !ok {
					return "no Ready agent pod on " + n
				}
			}
			return ""
		})
		for _, n := range Nodes {
			checkAgentSecurity(t, c, n, agents[n])
		}
	})

	step(t, "2 enable without Multus, then with: uplinks enslaved incl. a management NIC", func(t *testing.T) {
		patch := `{"spec":{"enable":true,"defaultPhysicalNIC":"eth1"}}`
		if _, err := c.Net.NetworkV1alpha1().ClusterNetworks().Patch(ctx(t), v1alpha1.ClusterNetworkVLAN, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		Eventually(t, wait, func() string {
			_, err := c.Net.NetworkV1alpha1().Nodes().Get(ctx(t), "n2", metav1.GetOptions{})
			return errString(err)
		})
		nic := `{"spec":{"network":{"type":"vlan","nic":"eth0"}}}`
		if _, err := c.Net.NetworkV1alpha1().Nodes().Patch(ctx(t), "n2", types.MergePatchType, []byte(nic), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		for n, uplink := range map[string]string{"n1": "eth1", "n2": "eth0"} {
			Eventually(t, wait, func() string { return enslaved(t, c, n, uplink) })
			// The status catches up with the kernel: this spec's generation
			// observed, the uplink reported as the bridge's port and ready.
			var h *v1alpha1.Node
			Eventually(t, wait, func() string {
				var err error
				if h, err = c.Net.NetworkV1alpha1().Nodes().Get(ctx(t), n, metav1.GetOptions{}); err != nil {
					return err.Error()
				}
				if h.Status.ObservedGeneration != h.Generation || h.Status.NetworkStatus[uplink].Master != bridge {
					return fmt.Sprintf("%s: status of generation %d (spec %d) has %s's master %q, want %s", n,
						h.Status.ObservedGeneration, h.Generation, uplink, h.Status.NetworkStatus[uplink].Master, bridge)
				}
				return conditionIs(t, c, n, v1alpha1.ConditionUplinkReady, metav1.ConditionTrue)
			})
			// What this kernel lacks is reported as the netns tiers report it.
			if c := meta.FindStatusCondition(h.Status.Conditions, v1alpha1.ConditionDHCPRulesReady); !nt.KernelHasBroute(t) && (c == nil || c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "broute")) {
				t.Errorf("%s: DHCPRulesReady %+v, want False naming the missing broute table", n, c)
			}
			// No NAD CRD yet: the node converged without NAD VLANs and says why.
			Eventually(t, wait, func() string {
				return conditionSays(t, c, n, v1alpha1.ConditionVLANsReady, metav1.ConditionTrue, "is Multus installed?")
			})
			// Written by the agent through its /host/proc/sys/net mount: the
			// container's own /proc/sys is read-only.
			Eventually(t, wait, func() string {
				if v := sysctl(t, c, n, "bridge/bridge-nf-call-iptables"); v != "0" {
					return fmt.Sprintf("%s: bridge-nf-call-iptables %q (was %q before the install), want 0", n, v, nfBefore[n])
				}
				return ""
			})
		}
		// Multus arrives with a VM network on VLAN 100: the controller asks
		// discovery every 10 s and sums the NADs up in the ClusterNetwork,
		// where the agents (which may not read NADs) pick the VLAN up; this
		// kernel cannot filter VLANs, which VLANsReady must say.
		mustKubectl(t, c, "apply", "-f", filepath.Join(c.Root, "crds", "k8s.cni.cncf.io_network-attachment-definitions.yaml"))
		mustKubectl(t, c, "wait", "--for", "condition=Established", "crd/network-attachment-definitions.k8s.cni.cncf.io", "--timeout", "60s")
		mustKubectl(t, c, "apply", "-f", c.File(t, "nad.yaml", vlan100NAD))
		for _, n := range Nodes {
			Eventually(t, wait, func() string {
				if nt.KernelHasVLANFiltering(t) {
					return conditionIs(t, c, n, v1alpha1.ConditionVLANsReady, metav1.ConditionTrue)
				}
				return conditionSays(t, c, n, v1alpha1.ConditionVLANsReady, metav1.ConditionFalse, "VLAN IDs [100]")
			})
		}
		// n2's management address moved onto the bridge and still answers,
		// from the control plane and for the kubelet.
		out, _ := c.Node("n2", "ip", "-br", "addr", "show", bridge)
		if !strings.Contains(out, MgmtAddr("n2")+"/24") {
			t.Errorf("n2: bridge addresses %q lack %s", out, MgmtAddr("n2"))
		}
		if out, err := c.In("cp", "ping", "-c", "3", "-i", "0.2", "-W", "2", MgmtAddr("n2")); err != nil {
			t.Errorf("n2's management address does not answer: %v\n%s", err, out)
		}
		Eventually(t, wait, func() string { return nodeReady(t, c, "n2") })
	})

	step(t, "3 probes called by the kubelet, health on 127.0.0.1 only, /metrics", func(t *testing.T) {
		agents := agentPods(t, c)
		for _, n := range Nodes {
			p := agents[n]
			Eventually(t, wait, func() string {
				out, err := c.Kubectl("get", "--raw", "/api/v1/nodes/"+n+"/proxy/metrics/probes")
				if err != nil {
					return err.Error()
				}
				for _, typ := range []string{"Startup", "Readiness", "Liveness"} {
					if !probed(out, p.Name, typ) {
						return fmt.Sprintf("%s: the kubelet reports no successful %s probe of %s", n, typ, p.Name)
					}
				}
				return ""
			})
			for _, ep := range []string{"127.0.0.1:9102/healthz", "127.0.0.1:9101/metrics"} {
				if out, err := c.Node(n, "curl", "-fsS", "--max-time", "5", "http://"+ep); err != nil || !strings.Contains(out, "\n") {
					t.Errorf("%s: %s in the node: %v %.200s", n, ep, err, out)
				}
				// Loopback only: not on the node's management address.
				remote := strings.Replace(ep, "127.0.0.1", MgmtAddr(n), 1)
				if out, err := c.In("cp", "curl", "-sS", "--max-time", "3", "http://"+remote); err == nil {
					t.Errorf("%s answers from outside the node:\n%.200s", remote, out)
				}
			}
		}
	})

	step(t, "7 kernel modules: none loaded by the pod, what this kernel lacks named", func(t *testing.T) {
		// The agent has no CAP_SYS_MODULE (step 1 checked CapEff is
		// NET_ADMIN|NET_RAW only), so it cannot load bridge, br_netfilter,
		// ebtable_broute, 8021q or bonding; what the kernel lacks is named
		// in the condition that needs it.
		for _, n := range Nodes {
			h, err := c.Net.NetworkV1alpha1().Nodes().Get(ctx(t), n, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []struct {
				cond, names string
				have        bool
			}{
				{v1alpha1.ConditionBridgeReady, "CONFIG_BRIDGE_VLAN_FILTERING", nt.KernelHasVLANFiltering(t)},
				{v1alpha1.ConditionDHCPRulesReady, "broute", nt.KernelHasBroute(t)},
			} {
				cd := meta.FindStatusCondition(h.Status.Conditions, want.cond)
				switch {
				case cd == nil:
					t.Errorf("%s: no %s condition", n, want.cond)
				case !want.have && !strings.Contains(cd.Message, want.names):
					t.Errorf("%s: %s %q does not name %s, which this kernel lacks", n, want.cond, cd.Message, want.names)
				case want.have && cd.Status != metav1.ConditionTrue:
					t.Errorf("%s: %s %+v on a kernel that has %s", n, want.cond, cd, want.names)
				}
			}
		}
	})

	step(t, "4 rolling update to a second tag: node by node, host unchanged, no ping lost", func(t *testing.T) {
		rollingUpdate(t, c)
	})

	step(t, "5 delete the n1 agent and the leader: both come back, hosts unchanged", func(t *testing.T) {
		settled := map[string]string{}
		for _, n := range Nodes {
			settled[n] = c.HostState(t, n)
		}
		// The update just replaced the controllers: wait for a leader among
		// the new ones (a released Lease has no holder for a moment).
		var agent corev1.Pod
		var leader string
		Eventually(t, wait, func() string {
			var ok bool
			if agent, ok = agentPods(t, c)["n1"]; !ok {
				return "no Ready agent on n1"
			}
			leader = leaderPod(t, c)
			return leaderAmong(t, c, controllerPods(t, c))
		})
		for _, p := range []string{agent.Name, leader} {
			mustKubectl(t, c, "delete", "pod", "-n", ns, p, "--wait=false")
		}
		Eventually(t, wait, func() string {
			p, ok := agentPods(t, c)["n1"]
			if !ok || p.UID == agent.UID {
				return "no new Ready agent pod on n1"
			}
			return ""
		})
		Eventually(t, wait, func() string {
			ctrl := controllerPods(t, c)
			if len(ctrl) != 2 || slices.ContainsFunc(ctrl, func(p corev1.Pod) bool { return p.Name == leader }) {
				return fmt.Sprintf("controller pods %v, want 2 Ready without %s", podNames(ctrl), leader)
			}
			return leaderAmong(t, c, ctrl)
		})
		for _, n := range Nodes {
			if now := c.HostState(t, n); now != settled[n] {
				t.Errorf("%s changed:\nbefore:\n%s\nafter:\n%s", n, settled[n], now)
			}
		}
	})

	step(t, "6 helm uninstall: hosts restored, no bridge, nothing stuck", func(t *testing.T) {
		if out, err := c.Helm("uninstall", "harvnet", "-n", ns, "--wait", "--timeout", "5m"); err != nil {
			t.Fatalf("%v\n%s", err, describe(c))
		} else {
			t.Log(out)
		}
		hn, err := c.Net.NetworkV1alpha1().Nodes().List(ctx(t), metav1.ListOptions{})
		if err != nil || len(hn.Items) != 0 {
			t.Errorf("hnodes left after uninstall (the hook waits for them): %v %v", hn, err)
		}
		uninstalled(t, c, before, "the chart")
	})

	step(t, "8 kustomize path: apply -k, enable, network off, delete -k", func(t *testing.T) {
		kustomizePath(t, c, before)
	})
}

// kustomizePath installs with kubectl apply -k (the chart's committed
// render, through an overlay that sets this run's image and offers veths as
// NICs), switches the network on with n2's management NIC, and uninstalls
// the documented way: network off, wait for the hnodes to go, delete -k.
func kustomizePath(t *testing.T, c *Cluster, before map[string]string) {
	rel, err := filepath.Rel(filepath.Join(c.Dir, "kustomize"), filepath.Join(c.Root, "manifests"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(c.Dir, "kustomize"), 0o755); err != nil {
		t.Fatal(err)
	}
	overlay := c.File(t, "kustomize/kustomization.yaml", fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [%q]
images:
  - {name: ghcr.io/harvnet/harvnet, newTag: %q}
patches:
  - target: {kind: DaemonSet, name: harvnet-agent}
    patch: |
      - {op: test, path: /spec/template/spec/containers/0/command/4, value: "--uplink-types=device,bond"}
      - {op: replace, path: /spec/template/spec/containers/0/command/4, value: "--uplink-types=device,bond,veth"}
`, rel, imageTag))
	start := time.Now()
	lap := func(what string) { t.Logf("%-44s at %5.1fs", what, time.Since(start).Seconds()) }
	mustKubectl(t, c, "apply", "-k", filepath.Dir(overlay))
	mustKubectl(t, c, "wait", "--for", "condition=Established", "crd", "--all", "--timeout", "60s")
	Eventually(t, wait, func() string {
		if a := agentPods(t, c); len(a) != len(Nodes) {
			return fmt.Sprintf("Ready agents on %v", a)
		}
		if ctrl := controllerPods(t, c); len(ctrl) != 2 {
			return fmt.Sprintf("Ready controllers %v", podNames(ctrl))
		}
		return ""
	})
	Eventually(t, wait, func() string {
		_, err := c.Net.NetworkV1alpha1().ClusterNetworks().Get(ctx(t), v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{})
		return errString(err)
	})
	lap("applied, pods Ready")
	if l, err := c.Kube.CoordinationV1().Leases(ns).Get(ctx(t), "harvnet-controller", metav1.GetOptions{}); err == nil {
		t.Logf("Lease before enabling: holder %v, renewed %v", ptrString(l.Spec.HolderIdentity), l.Spec.RenewTime)
	}
	mustKubectl(t, c, "patch", "clusternetwork", "vlan", "--type", "merge", "-p", `{"spec":{"enable":true,"defaultPhysicalNIC":"eth1"}}`)
	Eventually(t, wait, func() string {
		_, err := c.Net.NetworkV1alpha1().Nodes().Get(ctx(t), "n2", metav1.GetOptions{})
		return errString(err)
	})
	lap("hnode n2 created by the controller")
	mustKubectl(t, c, "patch", "hnode", "n2", "--type", "merge", "-p", `{"spec":{"network":{"type":"vlan","nic":"eth0"}}}`)
	for n, uplink := range map[string]string{"n1": "eth1", "n2": "eth0"} {
		Eventually(t, wait, func() string { return enslaved(t, c, n, uplink) })
		lap(n + " " + uplink + " enslaved")
	}
	lap("uplinks enslaved")
	// The README's uninstall: network off, wait, then delete.
	mustKubectl(t, c, "patch", "clusternetwork", "vlan", "--type", "merge", "-p", `{"spec":{"enable":false}}`)
	mustKubectl(t, c, "wait", "--for=delete", "hnodes", "--all", "--timeout", "120s")
	lap("network off, hnodes gone")
	mustKubectl(t, c, "delete", "-k", filepath.Dir(overlay), "--wait", "--timeout", "120s")
	lap("deleted")
	uninstalled(t, c, before, "the manifests")
}

// uninstalled checks what an uninstall by what leaves: no pod of harvnet's,
// every host exactly as before the install, and the namespace it was
// given still there.
func uninstalled(t *testing.T, c *Cluster, before map[string]string, what string) {
	t.Helper()
	Eventually(t, wait, func() string {
		pods, err := c.Kube.CoreV1().Pods(ns).List(ctx(t), metav1.ListOptions{})
		if err != nil || len(pods.Items) > 0 {
			return fmt.Sprintf("pods left in %s: %v %v", ns, podNames(podsOf(pods)), err)
		}
		return ""
	})
	for _, n := range Nodes {
		if now := c.HostState(t, n); now != before[n] {
			t.Errorf("%s not as before the install:\nbefore:\n%s\nafter:\n%s", n, before[n], now)
		}
	}
	if _, err := c.Kube.CoreV1().Namespaces().Get(ctx(t), ns, metav1.GetOptions{}); err != nil {
		t.Errorf("namespace %s: %v (%s must never delete it)", ns, err, what)
	}
}

func mustKubectl(t *testing.T, c *Cluster, args ...string) string {
	t.Helper()
	out, err := c.Kubectl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func errString(err error) string {
	if err != nil {
		return err.Error()
	}
	return ""
}

// describe is what a failed install shows: the pods and recent events.
func describe(c *Cluster) string {
	var b strings.Builder
	for _, args := range [][]string{
		{"get", "pods", "-A", "-o", "wide"},
		{"get", "events", "-A", "--sort-by=.lastTimestamp"},
	} {
		out, _ := c.Kubectl(args...)
		b.WriteString(out)
	}
	return b.String()
}

func sysctl(t *testing.T, c *Cluster, node, name string) string {
	t.Helper()
	out, err := c.Node(node, "cat", "/proc/sys/net/"+name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

func podsOf(l *corev1.PodList) []corev1.Pod {
	if l == nil {
		return nil
	}
	return l.Items
}

func podNames(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func ready(p corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func readyPods(t *testing.T, c *Cluster, selector string) []corev1.Pod {
	t.Helper()
	l, err := c.Kube.CoreV1().Pods(ns).List(ctx(t), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	return slices.DeleteFunc(l.Items, func(p corev1.Pod) bool { return !ready(p) })
}

func controllerPods(t *testing.T, c *Cluster) []corev1.Pod {
	return readyPods(t, c, "app.kubernetes.io/name=harvnet-controller")
}

// agentPods are the Ready agent pods by node.
func agentPods(t *testing.T, c *Cluster) map[string]corev1.Pod {
	out := map[string]corev1.Pod{}
	for _, p := range readyPods(t, c, "app.kubernetes.io/name=harvnet-agent") {
		out[p.Spec.NodeName] = p
	}
	return out
}

// leaderPod is the holder of the controller's Lease.
func leaderPod(t *testing.T, c *Cluster) string {
	t.Helper()
	l, err := c.Kube.CoordinationV1().Leases(ns).Get(ctx(t), "harvnet-controller", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	if l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

// leaderAmong says "" when exactly one of pods holds the Lease (the
// holder identity is the pod's hostname, i.e. its name).
func leaderAmong(t *testing.T, c *Cluster, pods []corev1.Pod) string {
	h := leaderPod(t, c)
	if !slices.ContainsFunc(pods, func(p corev1.Pod) bool { return p.Name == h }) {
		return fmt.Sprintf("Lease holder %q is none of the Ready controllers %v", h, podNames(pods))
	}
	return ""
}

func nodeReady(t *testing.T, c *Cluster, name string) string {
	n, err := c.Kube.CoreV1().Nodes().Get(ctx(t), name, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	for _, cd := range n.Status.Conditions {
		if cd.Type == corev1.NodeReady && cd.Status == corev1.ConditionTrue {
			return ""
		}
	}
	return name + " is not Ready"
}

func conditionIs(t *testing.T, c *Cluster, node, typ string, want metav1.ConditionStatus) string {
	h, err := c.Net.NetworkV1alpha1().Nodes().Get(ctx(t), node, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	cd := meta.FindStatusCondition(h.Status.Conditions, typ)
	if cd == nil || cd.Status != want {
		return fmt.Sprintf("%s: condition %s is %+v, want %s", node, typ, cd, want)
	}
	return ""
}

// conditionSays says "" when the node's condition of that type has that
// status and its message contains want.
func conditionSays(t *testing.T, c *Cluster, node, typ string, status metav1.ConditionStatus, want string) string {
	if msg := conditionIs(t, c, node, typ, status); msg != "" {
		return msg
	}
	h, err := c.Net.NetworkV1alpha1().Nodes().Get(ctx(t), node, metav1.GetOptions{})
	if err != nil {
		return err.Error()
	}
	if cd := meta.FindStatusCondition(h.Status.Conditions, typ); !strings.Contains(cd.Message, want) {
		return fmt.Sprintf("%s: %s says %q, want %q in it", node, typ, cd.Message, want)
	}
	return ""
}

// enslaved says "" when the kernel of node reports nic as a port of the bridge.
func enslaved(t *testing.T, c *Cluster, node, nic string) string {
	out, err := c.Node(node, "ip", "-o", "link", "show", nic)
	if err != nil {
		return err.Error()
	}
	if !strings.Contains(out, "master "+bridge) {
		return fmt.Sprintf("%s: %s", node, strings.TrimSpace(out))
	}
	return ""
}

// checkAgentSecurity checks the agent pod's declared securityContext and
// what the kernel says its process really has: only NET_ADMIN and NET_RAW
// effective, no new privileges, seccomp filtering, and the node's network
// namespace.
func checkAgentSecurity(t *testing.T, c *Cluster, node string, p corev1.Pod) {
	t.Helper()
	sc := p.Spec.Containers[0].SecurityContext
	if sc == nil || sc.Privileged == nil || *sc.Privileged || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.Capabilities == nil ||
		!slices.Equal(sc.Capabilities.Add, []corev1.Capability{"NET_ADMIN", "NET_RAW"}) ||
		!slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("%s: agent securityContext %+v", node, sc)
	}
	if p.Spec.SecurityContext == nil || p.Spec.SecurityContext.SeccompProfile == nil || p.Spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: pod seccompProfile %+v, want RuntimeDefault", node, p.Spec.SecurityContext)
	}
	pid := agentPID(t, c, node, p)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	// CAP_NET_ADMIN is bit 12, CAP_NET_RAW bit 13; Seccomp 2 is filter mode.
	for _, want := range []string{"CapEff:\t0000000000003000", "NoNewPrivs:\t1", "Seccomp:\t2"} {
		if !strings.Contains(string(status), want+"\n") {
			t.Errorf("%s: agent process %d lacks %q in /proc/%d/status:\n%s", node, pid, want, pid, status)
		}
	}
	agentNet, err1 := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	fi, err2 := os.Stat("/run/netns/" + c.NS(node))
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if want := fmt.Sprintf("net:[%d]", inode(fi)); agentNet != want {
		t.Errorf("%s: agent runs in %s, the node's namespace is %s", node, agentNet, want)
	}
}

// agentPID is the agent container's process as its node's containerd
// recorded it.
func agentPID(t *testing.T, c *Cluster, node string, p corev1.Pod) int {
	t.Helper()
	if len(p.Status.ContainerStatuses) == 0 {
		t.Fatalf("%s: pod %s has no container status", node, p.Name)
	}
	id := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "containerd://")
	b, err := os.ReadFile(filepath.Join(c.Dir, "nodes", node, "containerd-state", "io.containerd.runtime.v2.task", "k8s.io", id, "init.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	if _, err := fmt.Sscan(string(b), &pid); err != nil {
		t.Fatal(err)
	}
	return pid
}

func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// harvesterCRD is Harvester's own clusternetworks CRD as far as the API
// server cares: the same name, served at v1beta1 only.
const harvesterCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: clusternetworks.network.harvesterhci.io
spec:
  group: network.harvesterhci.io
  names: {kind: ClusterNetwork, listKind: ClusterNetworkList, plural: clusternetworks, singular: clusternetwork, shortNames: [cn]}
  scope: Cluster
  versions:
    - name: v1beta1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`

// probed reports whether the kubelet's prober metrics count a successful
// probe of that type for the pod.
func probed(metrics, pod, typ string) bool {
	for _, l := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(l, "prober_probe_total{") || !strings.Contains(l, `pod="`+pod+`"`) ||
			!strings.Contains(l, `probe_type="`+typ+`"`) || !strings.Contains(l, `result="successful"`) {
			continue
		}
		f := strings.Fields(l)
		return len(f) > 1 && f[len(f)-1] != "0"
	}
	return false
}

const vlan100NAD = `apiVersion: k8s.cni.cncf.io/v1
kind: NetworkAttachmentDefinition
metadata: {name: vms, namespace: default}
spec:
  config: '{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":100}'
`

func ptrString(p *string) string {
	if p == nil {
		return "<none>"
	}
	return *p
}
