// Command demo runs harvnet on this machine for a person to poke at: a
// local control plane, three demo nodes in network namespaces, the
// controller and one agent per node. It stays up until Ctrl-C and then
// removes every namespace and process it made. Run it with `make demo`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

func main() {
	dir := flag.String("dir", "/tmp/harvnet-demo", "where the control plane, logs and binaries go")
	nodes := flag.Int("nodes", 3, "how many demo nodes")
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: needs root (it creates network namespaces); run `sudo make demo`")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *dir, *nodes); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dir string, count int) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	_ = os.RemoveAll(dir)
	step("building harvnet")
	if err := framework.Build(root, filepath.Join(dir, "bin")); err != nil {
		return err
	}
	step("starting kube-apiserver and etcd on 127.0.0.1")
	cluster, err := framework.NewCluster(root, dir, "hdemo", filepath.Join(dir, "bin"))
	defer func() {
		step("cleaning up: stopping agents, controller and control plane, deleting namespaces")
		cluster.Close()
	}()
	if err != nil {
		return err
	}
	step("starting harvnet-controller")
	if err := cluster.StartController(); err != nil {
		return err
	}
	for i := 1; i <= count; i++ {
		name := fmt.Sprintf("node%d", i)
		step("starting demo node " + name + " (namespace hdemo-" + name + ") and its agent")
		if _, err := cluster.AddNode(ctx, name); err != nil {
			return err
		}
	}
	step("enabling the VLAN network with eth1 as default NIC, and adding a NAD for VLAN 100")
	if err := enable(ctx, cluster); err != nil {
		return err
	}
	if err := waitReported(ctx, cluster, count); err != nil {
		return err
	}
	out, _ := cluster.Kubectl("get", "hnodes", "-o", "wide")
	fmt.Println()
	fmt.Print(out)
	kubectl := filepath.Join(root, "bin", "kubectl") + " --kubeconfig " + cluster.CP.AdminKubeconfig()
	fmt.Printf(`
harvnet is running. Try, in another shell:

  export KUBECONFIG=%[1]s
  %[2]s get hnodes -o wide
  %[2]s describe hnode node1
  %[2]s patch hnode node1 --type merge -p '{"spec":{"network":{"nic":"eth0"}}}'   # move the management NIC onto the bridge
  ip netns exec hdemo-node1 ip -br addr               # what the node really has
  ip netns exec hdemo-node1 ip link del harvester-br0 # drift: the agent repairs it at once

Logs: %[3]s/agent-node1.log, %[3]s/controller.log. Press Ctrl-C to stop and clean up.
`, cluster.CP.AdminKubeconfig(), kubectl, dir)
	<-ctx.Done()
	fmt.Println()
	return nil
}

func step(s string) { fmt.Println("==>", s) }

func enable(ctx context.Context, c *framework.Cluster) error {
	deadline := time.Now().Add(time.Minute)
	for {
		cn, err := c.Net.NetworkV1alpha1().ClusterNetworks().Get(ctx, v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{})
		if err == nil {
			cn.Spec.Enable, cn.Spec.DefaultPhysicalNIC = true, "eth1"
			if _, err = c.Net.NetworkV1alpha1().ClusterNetworks().Update(ctx, cn, metav1.UpdateOptions{}); err == nil {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("enabling ClusterNetwork vlan: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	err := c.NADs.Create(ctx, "vlan100", `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":100}`)
	return err
}

// waitReported waits until every demo node's object has a Ready condition.
func waitReported(ctx context.Context, c *framework.Cluster, count int) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		list, err := c.Net.NetworkV1alpha1().Nodes().List(ctx, metav1.ListOptions{})
		reported := 0
		if err == nil {
			for _, n := range list.Items {
				if len(n.Status.Conditions) > 0 {
					reported++
				}
			}
		}
		if reported == count {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the agents did not report status within a minute; see the logs in %s", c.Dir)
}
