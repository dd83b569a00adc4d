// Command vmguest runs the VM tier's test binaries inside the VM (see
// e2e/vm/README.md). /init starts it after the modules and hooks:
//
//	vmguest -plan /etc/harvnet-vm/plan.json -results /dev/ttyS1 -test2json /usr/local/bin/test2json
//
// It runs the plan's binaries in the plan's order, each with
// -test.v=test2json in its own working directory, its output converted by
// cmd/test2json, and writes every event as a results.Record, one JSON line
// each, to -results: the VM's second serial port, which qemu writes to a
// file on the host. The console gets one line per binary. It exits 0 when
// every binary exited 0, 1 otherwise, and 2 when it could not report at all.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/e2e/vm/results"
)

func main() {
	planPath := flag.String("plan", "/etc/harvnet-vm/plan.json", "the plan the host wrote")
	out := flag.String("results", "/dev/ttyS1", "where the records go (a serial port or a file)")
	t2j := flag.String("test2json", "/usr/local/bin/test2json", "cmd/test2json")
	work := flag.String("work", "/tmp/work", "parent of the binaries' working directories")
	flag.Parse()
	plan, err := results.ReadPlan(*planPath)
	if err != nil {
		say("cannot read the plan: %v", err)
		os.Exit(2)
	}
	w, err := openResults(*out)
	if err != nil {
		say("cannot open %s for the results: %v", *out, err)
		os.Exit(2)
	}
	code := run(plan, w, *t2j, *work)
	if err := w.Close(); err != nil {
		say("writing the results: %v", err)
		code = 2
	}
	os.Exit(code)
}

// say reports a problem on the console; progress says how far it got.
func say(format string, args ...any) { fmt.Printf("harvnet-vm: "+format+"\n", args...) }

func progress(format string, args ...any) { fmt.Printf("vmguest: "+format+"\n", args...) }

// run runs every binary of the plan, each in its Dir (or a directory of
// its own under work), and writes the records to w.
func run(plan results.Plan, w io.Writer, t2j, work string) int {
	enc := json.NewEncoder(w)
	write := func(r results.Record) error { return enc.Encode(r) }
	code := 0
	for _, b := range plan.Binaries {
		progress("run %s (tier %s)", b.Name, b.Tier)
		if err := write(results.Record{Kind: results.KindStart, Binary: b.Name}); err != nil {
			say("writing the results: %v", err)
			return 2
		}
		dir := b.Dir
		if dir == "" {
			dir = filepath.Join(work, b.Name)
		}
		c, err := runOne(b, t2j, dir, write)
		if err != nil { // the records cannot be written: nothing more can be reported
			say("writing the results: %v", err)
			return 2
		}
		progress("done %s: exit %d, passed=%d failed=%d skipped=%d in %.0fs", b.Name, c.exit, c.passed, c.failed, c.skipped, c.seconds)
		if c.exit != 0 {
			code = 1
		}
	}
	if err := write(results.Record{Kind: results.KindDone, Ran: len(plan.Binaries)}); err != nil {
		say("writing the results: %v", err)
		return 2
	}
	return code
}

type counts struct {
	exit                    int
	passed, failed, skipped int
	seconds                 float64
}

// runOne runs one binary through test2json and writes its records; the
// error is only ever one of write's.
func runOne(b results.Binary, t2j, dir string, write func(results.Record) error) (counts, error) {
	start := time.Now()
	c := counts{exit: -1}
	end := func(why string) (counts, error) {
		c.seconds = time.Since(start).Seconds()
		return c, write(results.Record{Kind: results.KindEnd, Binary: b.Name, Exit: c.exit, Seconds: c.seconds, Error: why})
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return end(err.Error())
	}
	// The binary's output goes through test2json; both run in one process
	// group so a hung binary and its children are killed together.
	pr, pw, err := os.Pipe()
	if err != nil {
		return end(err.Error())
	}
	args := append([]string{"-test.v=test2json", "-test.count=1", "-test.timeout=" + time.Duration(b.Timeout).String()}, b.Args...)
	test := exec.Command(b.Path, args...)
	test.Dir, test.Stdout, test.Stderr = dir, pw, pw
	test.Env = append(os.Environ(), b.Env...)
	test.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	conv := exec.Command(t2j, "-p", b.Name)
	conv.Stdin = pr
	events, err := conv.StdoutPipe()
	if err != nil {
		return end(err.Error())
	}
	if err := conv.Start(); err != nil {
		pr.Close()
		pw.Close()
		return end("starting test2json: " + err.Error())
	}
	pr.Close()
	if err := test.Start(); err != nil {
		pw.Close()
		_ = conv.Wait()
		return end("starting the test binary: " + err.Error())
	}
	pw.Close()
	killer := time.AfterFunc(time.Duration(b.KillAfter), func() { _ = syscall.Kill(-test.Process.Pid, syscall.SIGKILL) })
	var werr error
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(events)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			var e results.Event
			if json.Unmarshal(sc.Bytes(), &e) != nil {
				e = results.Event{Action: "output", Output: sc.Text() + "\n"}
			}
			c.count(e)
			if werr == nil {
				werr = write(results.Record{Kind: results.KindEvent, Binary: b.Name, Event: &e})
			}
		}
		// Drain whatever is left, so test2json never blocks on a full pipe.
		_, _ = io.Copy(io.Discard, events)
	}()
	waitErr := test.Wait()
	// What the binary left in its process group would keep the pipe open.
	_ = syscall.Kill(-test.Process.Pid, syscall.SIGKILL)
	select {
	case <-scanned:
	case <-time.After(10 * time.Second): // a child in another group holds the pipe
		_ = conv.Process.Kill()
		<-scanned
	}
	why := ""
	if err := waitErr; err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.Exited() {
			c.exit = ee.ExitCode()
		} else {
			why = fmt.Sprintf("the test binary: %v", err)
		}
	} else {
		c.exit = 0
	}
	if !killer.Stop() {
		why = fmt.Sprintf("killed %v after it started: it outlived its own -test.timeout=%v", time.Duration(b.KillAfter), time.Duration(b.Timeout))
	}
	if err := conv.Wait(); err != nil && why == "" {
		why = fmt.Sprintf("test2json: %v", err)
	}
	if werr != nil {
		return c, werr
	}
	return end(why)
}

func (c *counts) count(e results.Event) {
	if e.Test == "" {
		return
	}
	switch e.Action {
	case "pass":
		c.passed++
	case "fail":
		c.failed++
	case "skip":
		c.skipped++
	}
}

// serial is the results port: raw, so the records arrive byte for byte,
// and drained on Close, so nothing is still in the UART when /init stops
// the VM.
type serial struct{ *os.File }

func openResults(path string) (io.WriteCloser, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return f, nil // a plain file (tests, debugging)
	}
	t.Oflag &^= unix.OPOST // no "\n" -> "\r\n"
	t.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag = t.Cflag&^(unix.CBAUD|unix.CSIZE|unix.PARENB) | unix.CS8 | unix.B115200
	if err := unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t); err != nil {
		f.Close()
		return nil, fmt.Errorf("setting %s raw: %w", path, err)
	}
	return serial{f}, nil
}

func (s serial) Close() error {
	// TCSBRK with a non-zero argument is tcdrain(3).
	err := unix.IoctlSetInt(int(s.Fd()), unix.TCSBRK, 1)
	if cerr := s.File.Close(); err == nil {
		err = cerr
	}
	return err
}
