package agent_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/agent"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hostloop"
	"github.com/harvnet/harvnet/pkg/hostnet"
)

const br = "harvester-br0"

// The agent itself, started while its API server does not answer (nothing
// listens where its kubeconfig points), reconciles from the input its
// state file last applied: the bridge that held the management address,
// deleted, comes back with it. The state file is written by a first loop
// run as the agent would have, with the node's input.
func TestAgentWithoutAPIServerRepairsFromTheStateFile(t *testing.T) {
	node := nt.NewNode(t)
	node.AddManagementNIC(t, "eth0")
	host, err := hostnet.New(node.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	opts := desired.Options{BridgeName: br, UplinkTypes: []string{"device", "bond", "veth"}}
	dir := t.TempDir()
	enslaved := func() string {
		b, ok := node.Link(t, br)
		e0, _ := node.Link(t, "eth0")
		if !ok || e0.Master != br || !slices.Contains(b.GlobalAddrs(), "10.11.0.5/24") {
			return "eth0 not enslaved with 10.11.0.5/24 on " + br
		}
		return ""
	}

	before, err := hostloop.New(host, hostloop.Config{Options: opts, StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { before.Run(ctx); close(done) }()
	before.SetInput(desired.Input{Spec: v1alpha1.NodeSpec{Network: v1alpha1.NetworkSpec{Type: v1alpha1.NetworkTypeVLAN, NIC: "eth0"}}, Generation: 4})
	nt.Eventually(t, 10*time.Second, enslaved)
	nt.Eventually(t, 10*time.Second, nt.Check("the pass did not converge", func() bool { return before.Converged() == nil }))
	cancel()
	<-done

	node.IP(t, "link", "del", br)
	actx, acancel := context.WithCancel(context.Background())
	defer acancel()
	a, err := agent.New(actx, &rest.Config{Host: "https://127.0.0.1:1", Timeout: time.Second}, host, agent.Config{
		NodeName: "n1",
		Loop:     hostloop.Config{Options: opts, StateDir: dir, Resync: time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(actx) }()
	nt.Eventually(t, 10*time.Second, func() string {
		select {
		case err := <-runErr:
			t.Fatalf("the agent gave up without its API server: %v", err)
		default:
		}
		return enslaved()
	})
}
