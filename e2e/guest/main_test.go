// Package guest is the VM half of the control-plane e2e on a full kernel
// (tier B of scripts/vm-test.sh, see e2e/vm/README.md). It runs inside the
// test VM: the nodes are network namespaces there, each with a harvnet-agent
// that reaches the API server on the host through a relay and qemu's
// guestfwd, while the controller runs on the host. The test drives the
// operator's story through the API and checks that the API's status and the
// VM's kernel agree.
//
// Outside the VM (no HARVNET_GUEST_KUBECONFIG) it skips.
package guest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/internal/netnstest"
)

// Set for this binary by the plan e2e/vm/vmrun writes (results.Binary.Env).
const (
	envAdmin  = "HARVNET_GUEST_KUBECONFIG"       // admin, server https://10.0.2.100:6443
	envAgent  = "HARVNET_GUEST_AGENT_KUBECONFIG" // the agent's identity, server https://127.0.0.1:6443
	envBinary = "HARVNET_GUEST_AGENT"            // the harvnet-agent binary
)

var guest *framework.Guest

func TestMain(m *testing.M) {
	if os.Getenv(envAdmin) == "" {
		fmt.Println("guest: skipped: runs only inside the VM of scripts/vm-test.sh (tier B), which sets " + envAdmin)
		os.Exit(0)
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Println("guest: needs root")
		return 1
	}
	dir, err := os.MkdirTemp("", "harvnet-guest-")
	if err != nil {
		fmt.Println("guest:", err)
		return 1
	}
	agent := os.Getenv(envBinary)
	if agent == "" {
		agent = "/usr/local/bin/harvnet-agent"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	guest, err = framework.NewGuest(ctx, dir, "hvm", agent, os.Getenv(envAdmin), os.Getenv(envAgent), framework.GuestAPIAddr, 90*time.Second)
	// Agents re-check netfilter every second so the test sees repairs fast.
	guest.AgentArgs = []string{"--resync", "1s"}
	code := 1
	if err != nil {
		fmt.Println("guest: setting up:", err)
	} else {
		fmt.Printf("guest: the host's API server answers at %s (through qemu's guestfwd) after %v\n",
			framework.GuestAPIAddr, time.Since(start).Round(10*time.Millisecond))
		code = m.Run()
	}
	guest.Close()
	if code != 0 {
		// The VM's files die with it: the console (kept by the host) is
		// where the agents' logs can be read.
		for name := range guest.Nodes {
			dumpTail(guest.AgentLog(name), 60)
		}
	}
	return code
}

func dumpTail(path string, n int) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	fmt.Printf("guest: last %d lines of %s:\n%s\n", len(lines), path, "    "+strings.Join(lines, "\n    "))
}

func ctx(t *testing.T) context.Context { return framework.Ctx(t) }

func eventually(t *testing.T, deadline time.Duration, check func() string) {
	t.Helper()
	netnstest.Eventually(t, deadline, check)
}
