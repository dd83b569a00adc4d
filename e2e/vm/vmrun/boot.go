package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/harvnet/harvnet/e2e/vm/results"
)

// What the host shows of a run without -v: the VM's own lines, and of the
// tests' output their failures, skips and the facts they prove.
var (
	// vmguest's "vmguest: run/done" console lines are shown from the
	// results instead, in order with the tests' output.
	showConsole = regexp.MustCompile(`^harvnet-vm: |^guest-net: |Kernel panic`)
	showOutput  = regexp.MustCompile(`proved:|^\s*--- (FAIL|SKIP)|^(FAIL|panic:)|^guest: `)
	showAll     = regexp.MustCompile(``)
)

// boot runs the VM, reads the results the guest writes on its second serial
// port while it runs, stops tier B's host side once tier B is done, and
// summarises.
func (r *testRun) boot(plan results.Plan, initrd string, port int) (passed, failed int, err error) {
	log := filepath.Join(r.out, "console.log")
	resPath := filepath.Join(r.out, "results.jsonl")
	// Made here, so it can be read from its start however soon qemu writes.
	if err := os.WriteFile(resPath, nil, 0o644); err != nil {
		return 0, 0, err
	}
	res, err := os.Open(resPath)
	if err != nil {
		return 0, 0, err
	}
	defer res.Close()
	r.phase(fmt.Sprintf("booting %s under qemu (TCG), console in %s, results in %s", r.kver, r.rel(log), r.rel(resPath)))
	show := showConsole
	if r.verbose {
		show = showAll
	}
	q, err := bootVM(r.vm(initrd, port, "-serial", "file:"+resPath), log, show)
	if err != nil {
		return 0, 0, err
	}

	rd := results.NewReader(res)
	var recs []results.Record
	// Tier B runs first (results.TierOrder); once it is done, the control
	// plane and the controller stop, so tier A's timing-sensitive tests
	// (pings every 2 ms) get the host's CPUs as they would without tier B.
	lastB := plan.LastOfTier(results.TierB)
	drain := func() {
		for {
			rec, ok, err := rd.Next()
			if err != nil || !ok {
				return
			}
			recs = append(recs, rec)
			r.show(rec)
			if rec.Kind == results.KindEnd && rec.Binary == lastB && r.host != nil {
				go r.host.stop()
			}
		}
	}
	timeout := time.NewTimer(r.bootTimeout)
	defer timeout.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	timedOut := false
	for !q.exited() {
		select {
		case <-q.done:
		case <-timeout.C:
			timedOut = true
			q.stop(syscall.SIGTERM, 5*time.Second)
		case <-r.ctx.Done():
			q.stop(syscall.SIGTERM, 5*time.Second)
			return 0, 0, r.ctx.Err()
		case <-tick.C:
			drain()
		}
	}
	rc := q.wait()
	drain()

	s := results.Summarize(plan, recs)
	if !s.Done {
		why := fmt.Sprintf("qemu exited %d without a report", rc)
		switch {
		case timedOut:
			why = fmt.Sprintf("did not report within %v (HARVNET_VM_TIMEOUT)", r.bootTimeout)
		case rc == 0:
			why = "stopped without reporting (/init died or the kernel panicked)"
		}
		r.say("the VM %s; last console lines:", why)
		fmt.Fprint(os.Stderr, tailLog(log, 25))
	}
	s.Write(os.Stderr)
	if rd.Garbled > 0 {
		r.say("%d lines on the results port were not records (see %s)", rd.Garbled, resPath)
	}
	// isa-debug-exit: the guest wrote 0 (qemu exits 1: every binary
	// exited 0) or 1 (qemu exits 3).
	switch {
	case !s.Done:
	case rc == 3 && s.Failed == 0:
		r.say("the guest reported a failure that its records do not show (qemu exited 3)")
		s.Failed++
	case rc != 1 && rc != 3:
		r.say("qemu exited %d after the VM reported", rc)
		s.Failed++
	}
	return s.Passed, s.Failed, nil
}

// show prints what a record says to the terminal: a line when a binary
// starts and ends, and the tests' output (filtered unless -v).
func (r *testRun) show(rec results.Record) {
	switch rec.Kind {
	case results.KindStart:
		r.shown = [3]int{}
		fmt.Fprintf(os.Stderr, "harvnet-vm: run %s\n", rec.Binary)
	case results.KindEnd:
		fmt.Fprintf(os.Stderr, "harvnet-vm: done %s: exit %d, passed=%d failed=%d skipped=%d in %.0fs\n",
			rec.Binary, rec.Exit, r.shown[0], r.shown[1], r.shown[2], rec.Seconds)
	case results.KindEvent:
		e := rec.Event
		if e == nil {
			return
		}
		if i := map[string]int{"pass": 1, "fail": 2, "skip": 3}[e.Action]; i > 0 && e.Test != "" {
			r.shown[i-1]++
		}
		line := strings.TrimRight(e.Output, "\n")
		if e.Action == "output" && (r.verbose || showOutput.MatchString(line)) {
			fmt.Fprintln(os.Stderr, line)
		}
	}
}
