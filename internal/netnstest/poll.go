package netnstest

import (
	"testing"
	"time"
)

// Eventually polls check until it returns "" and fails the test with what
// check said last if that has not happened within deadline. It is the one
// poller of the netns tests and the e2e: checks say what is wrong, so a
// failure reads as the state the test was waiting to leave. Polls start
// every 5 ms, for kernel changes that take microseconds, and back off to
// every 50 ms, so long waits (an agent, the API server) stay cheap.
func Eventually(t testing.TB, deadline time.Duration, check func() string) {
	t.Helper()
	end := time.Now().Add(deadline)
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("after %v: %s", deadline, msg)
		}
		time.Sleep(pause)
	}
}

// Check turns a condition into a check for Eventually that says failure
// while cond does not hold.
func Check(failure string, cond func() bool) func() string {
	return func() string {
		if cond() {
			return ""
		}
		return failure
	}
}
