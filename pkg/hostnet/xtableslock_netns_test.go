package hostnet

import (
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/plan"
)

// xtablesLock is where iptables-legacy takes its lock. It is a file, not a
// per-namespace object, so the lock is host-wide: holding it here also
// holds up every other iptables-legacy writer on this machine for the hold.
const xtablesLock = "/run/xtables.lock"

// Another writer (kube-proxy, a firewall script) holds the xtables lock
// while the agent reads the legacy FORWARD chain: go-iptables passes
// --wait, so the read waits for the lock instead of failing, and succeeds
// once it is released.
func TestNetfilterWaitsForXtablesLock(t *testing.T) {
	nt.RequireTool(t, "iptables-legacy")
	n := nt.NewNS(t)
	// Listing creates the legacy filter table, so the agent reads it.
	n.Exec(t, "iptables-legacy", "-w", "-S", "FORWARD")
	h, err := New(n.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	f, err := os.OpenFile(xtablesLock, os.O_RDONLY|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	// The hold is the fault itself, not synchronisation: the test waits
	// on the refresh's result, never on a guessed duration.
	const hold = 2 * time.Second
	var released atomic.Int64
	time.AfterFunc(hold, func() {
		released.Store(time.Now().UnixNano())
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	})
	done := make(chan plan.Missing, 1)
	go func() { done <- h.RefreshNetfilter() }()
	var missing plan.Missing
	select {
	case missing = <-done:
	case <-time.After(hold + 30*time.Second):
		t.Fatal("the refresh never finished after the xtables lock was released")
	}
	finished := time.Now().UnixNano()
	if r := released.Load(); r == 0 || finished < r {
		t.Errorf("the refresh finished before the xtables lock was released (missing: %v): it did not wait", missing)
	}
	if why, ok := missing[plan.CapIPTables]; ok {
		t.Fatalf("iptables reported unusable after waiting for the lock: %s", why)
	}
	st, err := h.Observe()
	if err != nil {
		t.Fatal(err)
	}
	var legacy bool
	for _, fw := range st.Forward {
		legacy = legacy || fw.Backend == "legacy"
	}
	if !legacy {
		t.Errorf("the legacy FORWARD chain was not read after the lock was released: %+v", st.Forward)
	}
}
