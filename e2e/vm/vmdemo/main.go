// Command vmdemo is the demo on a full kernel (scripts/vm-demo.sh): the
// control plane and the controller run on the host (e2e/vm/vmhost), the
// demo nodes and their agents in a qemu VM. It has two roles:
//
//	vmdemo guest -nodes N    in the VM: nodes node1..N in namespaces hdemo-node<i>
//	                         (NICs eth0 (management), eth1, eth2), a relay and
//	                         an agent each; runs until SIGTERM
//	vmdemo host -nodes N -kubeconfig F
//	                         on the host: enables the VLAN network with eth1 as
//	                         default NIC, adds the NAD vlan100, and waits until
//	                         every node is Ready with VLAN 100 applied
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/generated/clientset/versioned"
)

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "guest" && os.Args[1] != "host") {
		fmt.Fprintln(os.Stderr, "usage: vmdemo guest|host [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("vmdemo "+os.Args[1], flag.ExitOnError)
	nodes := fs.Int("nodes", 3, "how many demo nodes")
	kubeconfig := fs.String("kubeconfig", os.Getenv("HARVNET_GUEST_KUBECONFIG"), "admin kubeconfig")
	agentKubeconfig := fs.String("agent-kubeconfig", os.Getenv("HARVNET_GUEST_AGENT_KUBECONFIG"), "the agents' kubeconfig (guest)")
	agent := fs.String("agent", "/usr/local/bin/harvnet-agent", "the harvnet-agent binary (guest)")
	wait := fs.Duration("wait", 5*time.Minute, "how long the host waits for the nodes")
	_ = fs.Parse(os.Args[2:])
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if os.Args[1] == "guest" {
		err = guest(ctx, *nodes, *agent, *kubeconfig, *agentKubeconfig)
	} else {
		err = host(ctx, *nodes, *kubeconfig, *wait)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vmdemo:", err)
		os.Exit(1)
	}
}

func guest(ctx context.Context, count int, agent, kubeconfig, agentKubeconfig string) error {
	dir := "/tmp/harvnet-demo"
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	g, err := framework.NewGuest(ctx, dir, "hdemo", agent, kubeconfig, agentKubeconfig, framework.GuestAPIAddr, 2*time.Minute)
	defer g.Close()
	if err != nil {
		return err
	}
	for i := 1; i <= count; i++ {
		name := fmt.Sprintf("node%d", i)
		if _, err := g.AddNode(ctx, name); err != nil {
			return fmt.Errorf("node %s: %w", name, err)
		}
		fmt.Printf("vmdemo: demo node %s (namespace hdemo-%s) and its agent started; log %s\n", name, name, g.AgentLog(name))
	}
	fmt.Println("vmdemo: all nodes started")
	<-ctx.Done()
	fmt.Println("vmdemo: stopping the agents")
	return nil
}

func host(ctx context.Context, count int, kubeconfig string, wait time.Duration) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	c, err := versioned.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for {
		cn, err := c.NetworkV1alpha1().ClusterNetworks().Get(ctx, v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{})
		if err == nil {
			cn.Spec.Enable, cn.Spec.DefaultPhysicalNIC = true, "eth1"
			if _, err = c.NetworkV1alpha1().ClusterNetworks().Update(ctx, cn, metav1.UpdateOptions{}); err == nil {
				break
			}
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return fmt.Errorf("enabling ClusterNetwork vlan (the controller creates it): %w", err)
		}
	}
	nads, err := framework.NewNADs(cfg)
	if err != nil {
		return err
	}
	if err := nads.Create(ctx, "vlan100", `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":100}`); err != nil {
		return err
	}
	last := ""
	for {
		ready, msg := readyNodes(ctx, c)
		if ready == count {
			return nil
		}
		if msg != last {
			fmt.Printf("    %d of %d nodes Ready with VLAN 100%s\n", ready, count, msg)
			last = msg
		}
		if err := sleep(ctx, time.Second); err != nil {
			return fmt.Errorf("%d of %d nodes Ready with VLAN 100 (%v)%s", ready, count, err, msg)
		}
	}
}

// readyNodes counts the Node objects that are Ready with VLAN 100 on their
// uplink, and says what the first one that is not is waiting for.
func readyNodes(ctx context.Context, c versioned.Interface) (int, string) {
	list, err := c.NetworkV1alpha1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, ": " + err.Error()
	}
	ready, msg := 0, ""
	for _, n := range list.Items {
		r := metav1.Condition{Status: "absent"}
		for _, cond := range n.Status.Conditions {
			if cond.Type == v1alpha1.ConditionReady {
				r = cond
			}
		}
		if r.Status == metav1.ConditionTrue && slices.Contains(n.Status.NetworkIDs, 100) {
			ready++
		} else if msg == "" {
			msg = fmt.Sprintf("; %s: Ready %s, networkIDs %v", n.Name, r.Status, n.Status.NetworkIDs)
			if r.Message != "" {
				msg += " (" + r.Message + ")"
			}
		}
	}
	return ready, msg
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
