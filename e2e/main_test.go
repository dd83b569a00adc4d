// Package e2e runs harvnet end to end on this machine: a real kube-apiserver
// and etcd, nodes that are network namespaces, the controller and one agent
// per node as real processes. It needs root.
//
// The control plane and the controller are shared by all tests (TestMain);
// each test starts with fresh() — network disabled, no objects, new nodes —
// so any one runs alone: go test ./e2e -run TestAPIServerOutage.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/internal/netnstest"
)

var cluster *framework.Cluster

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		if netnstest.InCI() {
			// Under CI a tier that cannot run fails the run, so a
			// misconfigured runner does not pass by skipping it.
			fmt.Println("e2e: FAIL: CI=true but not running as root (network namespaces, veths, bridges)")
			os.Exit(1)
		}
		fmt.Println("e2e: skipped: needs root (network namespaces, veths, bridges); run `sudo make test`")
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	root, _ := filepath.Abs("..")
	dir, err := os.MkdirTemp("", "harvnet-e2e-")
	if err != nil {
		fmt.Println("e2e:", err)
		return 1
	}
	bin := filepath.Join(dir, "bin")
	if err := framework.Build(root, bin); err != nil {
		fmt.Println("e2e:", err)
		return 1
	}
	cluster, err = framework.NewCluster(root, dir, fmt.Sprintf("he2e%d", os.Getpid()%10000), bin)
	// Agents re-check netfilter every second so the e2e sees repairs fast.
	if cluster != nil {
		cluster.AgentArgs = []string{"--resync", "1s"}
		// A core Node's object outlives it this long: long enough to
		// register it again in a test, short enough to see it go.
		cluster.ControllerArgs = []string{"--node-gone-grace", nodeGoneGrace.String()}
	}
	if err == nil {
		err = cluster.StartController()
	}
	code := 1
	if err != nil {
		fmt.Println("e2e: setting up:", err)
	} else {
		code = m.Run()
	}
	cluster.Close()
	if code != 0 || os.Getenv("HARVNET_E2E_KEEP") != "" {
		fmt.Println("e2e: logs kept in", dir)
	} else {
		os.RemoveAll(dir)
	}
	return code
}

// Shorthands for what nearly every test says.
var (
	ctx        = framework.Ctx
	eventually = netnstest.Eventually
)

const (
	nodeGoneGrace = 8 * time.Second
	bridge        = framework.Bridge
	wait          = framework.Wait
)
