// Package statelock keeps two harvnet agents from acting on one node at once
// (a force-deleted pod whose container still runs, a debug copy): each takes
// an exclusive flock(2) on <state-dir>/agent.lock before touching the host.
// The kernel drops a flock when the last descriptor of its open file closes,
// so a SIGKILLed agent never leaves the lock behind.
package statelock

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// FileName is the lock file inside the state directory.
const FileName = "agent.lock"

// retry is how often a waiting agent tries the lock again. flock with
// LOCK_NB in a loop, rather than a blocking flock, lets ctx end the wait.
const retry = 200 * time.Millisecond

// Lock is a held agent lock; Release (or the process ending) frees it.
type Lock struct{ f *os.File }

// Acquire takes the exclusive lock on dir/agent.lock, waiting until the
// holder lets go or ctx ends. If it must wait, waiting is called once with
// a sentence naming the holder (its pid and node, as it wrote them). Once
// held, the lock file says this process's pid and node.
func Acquire(ctx context.Context, dir, node string, waiting func(holder string)) (*Lock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("agent lock: %w", err)
	}
	told := false
	t := time.NewTicker(retry)
	defer t.Stop()
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("agent lock %s: %w", path, err)
		}
		if !told && waiting != nil {
			told = true
			waiting(Holder(dir))
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for the agent lock %s (%s): %w", path, Holder(dir), ctx.Err())
		case <-t.C:
		}
	}
	// Who holds it is advice for the next agent's log line, not part of the
	// lock: a failure to write it does not give the lock up.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(fmt.Sprintf("pid=%d node=%s\n", os.Getpid(), node)), 0)
	}
	return &Lock{f: f}, nil
}

// Holder describes who holds dir's lock, from what the holder wrote into it.
func Holder(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if s := strings.TrimSpace(string(b)); err == nil && s != "" {
		return "held by " + s
	}
	// Between the holder's flock and its write, or an older agent.
	return "held by another process (it has not said which yet)"
}

// Release frees the lock. The file stays: deleting it would let a waiter
// lock the unlinked inode while a third agent creates and locks a new one.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
