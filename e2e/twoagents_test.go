package e2e

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/harvnet/harvnet/pkg/statelock"
)

// A second agent for a node (a force-deleted pod whose container still
// runs, a debug copy) waits on the state directory's lock, saying who
// holds it, touches nothing, and takes over once the first is killed.
func TestSecondAgentWaitsForTheFirst(t *testing.T) {
	n1 := fresh(t, "n1")[0]
	enable(t, "eth1", n1)
	eventually(t, wait, func() string { return settled(t, n1) })
	first := n1.Agent
	// Both agents append to the node's one log: read only what follows.
	from := logSize(t, first.Log)
	second, err := cluster.StartAgentAs("n1", "n1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Stop) // until it replaces the first in the cluster
	holder, err := os.ReadFile(filepath.Join(cluster.Dir, "state-n1", statelock.FileName))
	if err != nil || !strings.HasPrefix(string(holder), "pid=") {
		t.Fatalf("the first agent's lock file says %q (%v), want its pid and node", holder, err)
	}
	eventually(t, wait, func() string {
		log := logFrom(t, second.Log, from)
		if !strings.Contains(log, "another harvnet-agent acts on this node") || !strings.Contains(log, strings.TrimSpace(string(holder))) {
			return "the second agent has not said it waits for " + strings.TrimSpace(string(holder))
		}
		return ""
	})
	if log := logFrom(t, second.Log, from); strings.Contains(log, "harvnet-agent starting") {
		t.Fatalf("the second agent started while the first holds the lock:\n%s", log)
	}

	first.Kill()
	cluster.Nodes["n1"].Agent = second
	// A drift only a running agent repairs: the second has taken over.
	n1.Exec(t, "ip", "link", "set", bridge, "down")
	eventually(t, wait, func() string {
		if !strings.Contains(logFrom(t, second.Log, from), "harvnet-agent starting") {
			return "the second agent has not started after the first was killed"
		}
		if br, ok := n1.Link(t, bridge); !ok || !br.Up() {
			return "the bridge was not set up again by the second agent"
		}
		return ""
	})
}

func logSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func logFrom(t *testing.T, path string, off int64) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, off, 1<<30))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
