package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/e2e/framework"
	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

const wait = 30 * time.Second

// TestStory walks an operator's day: enable VLAN, pick NICs, add NADs,
// restart an agent, lose the API server, delete a node, disable. Each step
// builds on the one before.
func TestStory(t *testing.T) {
	n1, err := cluster.AddNode(ctx(t), "n1")
	if err != nil {
		t.Fatal(err)
	}
	n2, err := cluster.AddNode(ctx(t), "n2")
	if err != nil {
		t.Fatal(err)
	}
	n3, err := cluster.AddNode(ctx(t), "n3")
	if err != nil {
		t.Fatal(err)
	}
	vlanCapable := nt.KernelHasVLANFiltering(t)

	t.Run("enable creates Node objects with the default NIC", func(t *testing.T) {
		setClusterNetwork(t, true, "eth1")
		for _, name := range []string{"n1", "n2"} {
			eventually(t, wait, func() string {
				n, err := hnode(t, name)
				if err != nil {
					return err.Error()
				}
				if n.Spec.Network.Type != v1alpha1.NetworkTypeVLAN || n.Spec.Network.NIC != "eth1" {
					return fmt.Sprintf("%s spec %+v, want vlan on eth1", name, n.Spec.Network)
				}
				if len(n.OwnerReferences) != 1 || n.OwnerReferences[0].Kind != "Node" {
					return fmt.Sprintf("%s owner references %v, want its core Node", name, n.OwnerReferences)
				}
				return ""
			})
		}
	})

	t.Run("the agent enslaves the NIC and reports it", func(t *testing.T) {
		eventually(t, wait, func() string { return enslaved(n1, "eth1") })
		eventually(t, wait, func() string {
			return conditionIs(t, "n1", v1alpha1.ConditionUplinkReady, metav1.ConditionTrue, "Ready")
		})
		n, _ := hnode(t, "n1")
		if n.Status.NetworkStatus[bridge].Index == 0 || n.Status.NetworkStatus["eth1"].Master != bridge {
			t.Errorf("networkStatus %+v lacks the bridge or eth1 as its port", n.Status.NetworkStatus)
		}
		if n.Status.UplinkStatus != v1alpha1.LinkUp {
			t.Errorf("uplinkStatus %q, want up", n.Status.UplinkStatus)
		}
		i := slices.IndexFunc(n.Status.NICs, func(c v1alpha1.NIC) bool { return c.Name == "eth0" })
		if i < 0 || !n.Status.NICs[i].UsedByManagement {
			t.Errorf("nics %+v: eth0 not listed as used by management", n.Status.NICs)
		}
		if !slices.Contains(n.Finalizers, "network.harvesterhci.io/agent") {
			t.Errorf("finalizers %v lack the agent's", n.Finalizers)
		}
		if c := condition(n, v1alpha1.ConditionDHCPRulesReady); !nt.KernelHasBroute(t) && (c.Status != metav1.ConditionFalse || !strings.Contains(c.Message, "broute")) {
			t.Errorf("DHCPRulesReady %+v, want False naming the missing broute table on this kernel", c)
		}
		out, err := cluster.Kubectl("get", "hnodes", "-o", "wide")
		if err != nil || !strings.Contains(out, "eth1") || !strings.Contains(out, bridge) {
			t.Errorf("kubectl get hnodes -o wide:\n%s %v", out, err)
		}
	})

	t.Run("editing the NIC moves the management NIC onto the bridge", func(t *testing.T) {
		setNIC(t, "n1", "eth0")
		eventually(t, wait, func() string {
			if msg := enslaved(n1, "eth0"); msg != "" {
				return msg
			}
			e1, _ := link(n1, "eth1")
			br, _ := link(n1, bridge)
			if e1.Master != "" || !slices.Contains(br.addrs(), "10.50.0.1/24") || !hasDefaultRoute(n1, bridge) {
				return fmt.Sprintf("eth1 master %q, bridge addrs %v, default route on bridge %v", e1.Master, br.addrs(), hasDefaultRoute(n1, bridge))
			}
			return ""
		})
		ping(t, n1.Addr4())
		eventually(t, wait, func() string {
			n, _ := hnode(t, "n1")
			if got := n.Status.NetworkStatus[bridge].IPv4Address; !slices.Contains(got, "10.50.0.1/24") {
				return fmt.Sprintf("status bridge addresses %v", got)
			}
			return ""
		})
	})

	t.Run("a new default NIC never rewrites existing objects", func(t *testing.T) {
		setClusterNetwork(t, true, "eth2")
		// The controller re-checks every node when the ClusterNetwork
		// changes; give it a pass by waiting for a new core Node's object.
		if _, err := cluster.Kube.CoreV1().Nodes().Create(ctx(t), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n4"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, wait, func() string {
			n4, err := hnode(t, "n4")
			if err != nil || n4.Spec.Network.NIC != "eth2" {
				return fmt.Sprintf("n4: %v %+v, want created with eth2", err, n4)
			}
			return ""
		})
		for name, want := range map[string]string{"n1": "eth0", "n2": "eth1"} {
			if n, _ := hnode(t, name); n.Spec.Network.NIC != want {
				t.Errorf("%s nic %q, want it kept as %q", name, n.Spec.Network.NIC, want)
			}
		}
	})

	t.Run("a core Node made again under its name (a reinstall) owns the object", func(t *testing.T) {
		if err := cluster.Kube.CoreV1().Nodes().Delete(ctx(t), "n4", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		core, err := cluster.Kube.CoreV1().Nodes().Create(ctx(t), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n4"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, wait, func() string {
			n4, err := hnode(t, "n4")
			if err != nil || len(n4.OwnerReferences) != 1 || n4.OwnerReferences[0].UID != core.UID {
				return fmt.Sprintf("n4: %v %+v, want owned by the new core Node %s", err, n4, core.UID)
			}
			return ""
		})
		if err := cluster.Kube.CoreV1().Nodes().Delete(ctx(t), "n4", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("an object deleted by hand comes back while the network is on", func(t *testing.T) {
		if err := cluster.Net.NetworkV1alpha1().Nodes().Delete(ctx(t), "n2", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// n2's agent tears down and lets go; the controller makes a new
		// object with today's default NIC, eth2, and the agent follows.
		eventually(t, wait, func() string {
			n, err := hnode(t, "n2")
			if err != nil || n.DeletionTimestamp != nil || n.Spec.Network.NIC != "eth2" {
				return fmt.Sprintf("n2: %v, want a new object with eth2", err)
			}
			if msg := enslaved(n2, "eth2"); msg != "" {
				return msg
			}
			if e1, _ := link(n2, "eth1"); e1.Master != "" {
				return "eth1 still enslaved on n2"
			}
			return ""
		})
	})

	t.Run("the agent records Events for what it changed", func(t *testing.T) {
		eventually(t, wait, func() string {
			evs, err := cluster.Kube.CoreV1().Events("default").List(ctx(t), metav1.ListOptions{FieldSelector: "involvedObject.name=n1,reason=Applied"})
			if err != nil {
				return err.Error()
			}
			for _, e := range evs.Items {
				if strings.Contains(e.Message, "enslave eth0 to "+bridge) {
					return ""
				}
			}
			return fmt.Sprintf("no Applied event names enslaving eth0 (%d Applied events)", len(evs.Items))
		})
	})

	t.Run("an idle node makes no API writes", func(t *testing.T) {
		n, _ := hnode(t, "n1")
		// Five resync periods of the agent (--resync 1s): every pass finds
		// the host as it is and must not write status or Events.
		w, err := cluster.Net.NetworkV1alpha1().Nodes().Watch(ctx(t), metav1.ListOptions{
			FieldSelector: "metadata.name=n1", ResourceVersion: n.ResourceVersion, TimeoutSeconds: ptr(int64(5)),
		})
		if err != nil {
			t.Fatal(err)
		}
		for ev := range w.ResultChan() {
			t.Errorf("idle node was written: %s", ev.Type)
		}
	})

	t.Run("admission rejects a NIC the node does not have", func(t *testing.T) {
		n, _ := hnode(t, "n1")
		n.Spec.Network.NIC = "eth9"
		_, err := cluster.Net.NetworkV1alpha1().Nodes().Update(ctx(t), n, metav1.UpdateOptions{})
		if err == nil || !strings.Contains(err.Error(), "usable NICs") || !strings.Contains(err.Error(), "eth1") {
			t.Errorf("update to eth9: %v, want a rejection listing the usable NICs", err)
		}
		n, _ = hnode(t, "n1")
		n.Spec.Network.NIC = "eth/0"
		if _, err := cluster.Net.NetworkV1alpha1().Nodes().Update(ctx(t), n, metav1.UpdateOptions{}); err == nil {
			t.Error("a NIC name with '/' was accepted")
		}
	})

	t.Run("NADs set the VLAN IDs, bad NADs are skipped with a Warning", func(t *testing.T) {
		createNAD(t, "vms", `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":100,"vlanTrunk":[{"minID":200,"maxID":202}]}`)
		createNAD(t, "other", `{"cniVersion":"0.3.1","type":"bridge","bridge":"other-br","vlan":300}`)
		createNAD(t, "broken", `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":5000}`)
		if vlanCapable {
			eventually(t, wait, func() string {
				n, _ := hnode(t, "n1")
				if !slices.Equal(n.Status.NetworkIDs, []int{100, 200, 201, 202}) {
					return fmt.Sprintf("networkIDs %v", n.Status.NetworkIDs)
				}
				return ""
			})
		} else {
			eventually(t, wait, func() string {
				if msg := conditionIs(t, "n1", v1alpha1.ConditionVLANsReady, metav1.ConditionFalse, "Unsupported"); msg != "" {
					return msg
				}
				n, _ := hnode(t, "n1")
				if c := condition(n, v1alpha1.ConditionVLANsReady); !strings.Contains(c.Message, "[100 200 201 202]") || !strings.Contains(c.Message, "CONFIG_BRIDGE_VLAN_FILTERING") {
					return "VLANsReady message does not name the VLANs and the missing kernel option: " + c.Message
				}
				return ""
			})
		}
		eventually(t, wait, func() string {
			evs, err := cluster.Kube.CoreV1().Events("default").List(ctx(t), metav1.ListOptions{FieldSelector: "involvedObject.name=broken"})
			if err != nil {
				return err.Error()
			}
			for _, e := range evs.Items {
				if e.Type == corev1.EventTypeWarning && e.Reason == "InvalidConfig" && strings.Contains(e.Message, "5000") {
					return ""
				}
			}
			return "no Warning event on the broken NAD"
		})
		for _, name := range []string{"vms", "other", "broken"} {
			if err := cluster.NADs.Delete(ctx(t), name); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, wait, func() string { return conditionIs(t, "n1", v1alpha1.ConditionVLANsReady, metav1.ConditionTrue, "") })
	})

	t.Run("an agent restart leaves the host as it is", func(t *testing.T) {
		before := snapshot(t, n1)
		n1.Agent.Kill()
		if err := cluster.StartAgent("n1"); err != nil {
			t.Fatal(err)
		}
		// A drift the new agent must repair proves it has done its passes.
		if _, err := exec.Command("ip", "netns", "exec", n1.NS, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1").CombinedOutput(); err == nil {
			eventually(t, wait, func() string {
				out, _ := exec.Command("ip", "netns", "exec", n1.NS, "sysctl", "-n", "net.bridge.bridge-nf-call-iptables").Output()
				if strings.TrimSpace(string(out)) != "0" {
					return "bridge-nf-call-iptables not repaired by the restarted agent"
				}
				return ""
			})
		}
		if after := snapshot(t, n1); after != before {
			t.Errorf("host changed across an agent restart:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	t.Run("an API server outage does not stop host repairs; status catches up", func(t *testing.T) {
		if err := cluster.CP.StopAPIServer(); err != nil {
			t.Fatal(err)
		}
		stopped := time.Now()
		if _, err := n1.IP("link", "del", bridge); err != nil {
			t.Fatal(err)
		}
		eventually(t, wait, func() string { return enslaved(n1, "eth0") })
		if !hasDefaultRoute(n1, bridge) {
			t.Error("default route not restored on the rebuilt bridge during the outage")
		}
		if _, err := n1.IP("link", "set", "eth2", "down"); err != nil {
			t.Fatal(err)
		}
		// The outage itself is what is tested: it lasts 30 s on purpose.
		time.Sleep(time.Until(stopped.Add(30 * time.Second)))
		if err := cluster.CP.StartAPIServer(); err != nil {
			t.Fatal(err)
		}
		eventually(t, time.Minute, func() string {
			n, err := hnode(t, "n1")
			if err != nil {
				return err.Error()
			}
			i := slices.IndexFunc(n.Status.NICs, func(c v1alpha1.NIC) bool { return c.Name == "eth2" })
			if i < 0 || n.Status.NICs[i].LinkStatus != v1alpha1.LinkDown {
				return fmt.Sprintf("status.nics %+v does not show eth2 down", n.Status.NICs)
			}
			return ""
		})
	})

	t.Run("deleting a core Node deletes its object without a stuck finalizer", func(t *testing.T) {
		n2.Agent.Stop() // the node is gone: no agent will tear down
		if err := cluster.Kube.CoreV1().Nodes().Delete(ctx(t), "n2", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, wait, func() string {
			if _, err := hnode(t, "n2"); !apierrors.IsNotFound(err) {
				return fmt.Sprintf("hnode n2 still there: %v", err)
			}
			return ""
		})
	})

	t.Run("disable deletes the objects and the agents tear down", func(t *testing.T) {
		eventually(t, wait, func() string { return enslaved(n3, "eth1") })
		n3.Agent.Kill() // n3's agent is down through the disable: see below
		setClusterNetwork(t, false, "eth1")
		eventually(t, wait, func() string {
			if _, err := hnode(t, "n1"); !apierrors.IsNotFound(err) {
				return fmt.Sprintf("hnode n1 still there: %v", err)
			}
			if _, ok := link(n1, bridge); ok {
				return "bridge still on n1"
			}
			e0, _ := link(n1, "eth0")
			if !slices.Equal(e0.addrs(), []string{"10.50.0.1/24", "fd50::1/64"}) || !hasDefaultRoute(n1, "eth0") || !e0.up() {
				return fmt.Sprintf("eth0 addrs %v, default route %v, up %v", e0.addrs(), hasDefaultRoute(n1, "eth0"), e0.up())
			}
			return ""
		})
		ping(t, n1.Addr4())
	})

	t.Run("an agent that was down tears down when it returns, even if its object is gone", func(t *testing.T) {
		// The finalizer holds n3's object while no agent can tear down...
		eventually(t, wait, func() string {
			n, err := hnode(t, "n3")
			if err != nil || n.DeletionTimestamp == nil {
				return fmt.Sprintf("n3 not waiting on its finalizer: %v", err)
			}
			return ""
		})
		if msg := enslaved(n3, "eth1"); msg != "" {
			t.Errorf("n3's host changed with no agent running: %s", msg)
		}
		// ...until an impatient operator removes the finalizer by hand, so
		// the returning agent finds no object at all.
		if out, err := cluster.Kubectl("patch", "hnode", "n3", "--type=merge", "-p", `{"metadata":{"finalizers":null}}`); err != nil {
			t.Fatalf("kubectl patch: %v: %s", err, out)
		}
		eventually(t, wait, func() string {
			if _, err := hnode(t, "n3"); !apierrors.IsNotFound(err) {
				return fmt.Sprintf("hnode n3 still there: %v", err)
			}
			return ""
		})
		// An agent with a mistyped name finds no object either, but no
		// core Node of that name: it must leave the host alone.
		typo, err := cluster.StartAgentAs("n3", "n3-typo")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(typo.Stop) // the cluster stops only the agents it knows
		eventually(t, wait, func() string {
			if log, _ := os.ReadFile(typo.Log); !strings.Contains(string(log), "is --node-name right?") {
				return "the mistyped agent has not said it changes nothing"
			}
			return ""
		})
		typo.Stop()
		if msg := enslaved(n3, "eth1"); msg != "" {
			t.Errorf("an agent with a mistyped name changed the host: %s", msg)
		}
		if err := cluster.StartAgent("n3"); err != nil {
			t.Fatal(err)
		}
		eventually(t, wait, func() string {
			if _, ok := link(n3, bridge); ok {
				return "bridge still on n3"
			}
			if e1, _ := link(n3, "eth1"); e1.Master != "" || !e1.up() {
				return fmt.Sprintf("n3 eth1 master %q, up %v", e1.Master, e1.up())
			}
			return ""
		})
	})
}

func setClusterNetwork(t *testing.T, enable bool, nic string) {
	t.Helper()
	framework.SetClusterNetwork(t, cluster.Net, enable, nic)
}

func setNIC(t *testing.T, node, nic string) {
	t.Helper()
	framework.SetNIC(t, cluster.Net, node, nic)
}

func createNAD(t *testing.T, name, config string) {
	t.Helper()
	framework.CreateNAD(t, cluster.NADs, name, config)
}

func ping(t *testing.T, addr string) {
	t.Helper()
	framework.Ping(t, cluster.Switch, addr)
}

func ptr[T any](v T) *T { return &v }
