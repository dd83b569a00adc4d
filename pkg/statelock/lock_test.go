package statelock

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Two Acquires in one process open the file twice; flock locks belong to
// the open file description, so they conflict exactly as two agents would.
func TestSecondWaitsUntilFirstReleases(t *testing.T) {
	dir := t.TempDir()
	first, err := Acquire(context.Background(), dir, "node-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	told := make(chan string, 2)
	got := make(chan error, 1)
	var second *Lock
	go func() {
		var err error
		second, err = Acquire(context.Background(), dir, "node-a", func(h string) { told <- h })
		got <- err
	}()
	var holder string
	select {
	case holder = <-told:
	case <-time.After(10 * time.Second):
		t.Fatal("the second Acquire never said it waits")
	}
	if want := fmt.Sprintf("pid=%d node=node-a", os.Getpid()); !strings.Contains(holder, want) {
		t.Fatalf("waiting message %q does not name the holder %q", holder, want)
	}
	select {
	case err := <-got:
		t.Fatalf("the second Acquire returned (%v) while the first holds the lock", err)
	case <-time.After(3 * retry):
	}
	if err := first.Release(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second Acquire did not take the lock after the first released it")
	}
	defer second.Release()
	if len(told) != 0 {
		t.Fatalf("waiting was called more than once")
	}
}

func TestAcquireEndsWithContext(t *testing.T) {
	dir := t.TempDir()
	first, err := Acquire(context.Background(), dir, "n", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	ctx, cancel := context.WithTimeout(context.Background(), 3*retry)
	defer cancel()
	if l, err := Acquire(ctx, dir, "n", nil); err == nil {
		l.Release()
		t.Fatal("Acquire took a held lock")
	} else if !strings.Contains(err.Error(), "held by pid=") {
		t.Fatalf("error %q does not say who holds the lock", err)
	}
}

func TestUncontendedAcquireWritesHolder(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(context.Background(), dir, "node-x", func(string) { t.Error("waited for a free lock") })
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if h, want := Holder(dir), fmt.Sprintf("held by pid=%d node=node-x", os.Getpid()); h != want {
		t.Fatalf("Holder = %q, want %q", h, want)
	}
}

const childEnv = "STATELOCK_CHILD_DIR"

// TestChildHolds is the other process of TestKilledHolderFreesLock: it
// takes the lock, says so and waits to be killed.
func TestChildHolds(t *testing.T) {
	dir := os.Getenv(childEnv)
	if dir == "" {
		return // only meaningful as the child of TestKilledHolderFreesLock
	}
	if _, err := Acquire(context.Background(), dir, "child", nil); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Println("locked")
	// Sleep, not select{}: with every goroutine blocked the runtime would
	// abort the child as deadlocked and free the lock early.
	time.Sleep(time.Hour)
}

// A SIGKILLed holder in another process leaves no stale lock.
func TestKilledHolderFreesLock(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildHolds$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "locked" {
		t.Fatalf("child said %q, want locked", line)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*retry)
	l, err := Acquire(ctx, dir, "parent", nil)
	cancel()
	if err == nil {
		l.Release()
		t.Fatal("took the lock while the child holds it")
	}
	if want := fmt.Sprintf("pid=%d node=child", cmd.Process.Pid); !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not name the child %q", err, want)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err = Acquire(ctx, dir, "parent", nil)
	if err != nil {
		t.Fatalf("the lock of a killed holder was not freed: %v", err)
	}
	l.Release()
}
