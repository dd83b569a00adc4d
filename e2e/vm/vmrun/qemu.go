package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"time"
)

// spareNICMAC is the burnt-in MAC of the VM's spare NIC.
const spareNICMAC = "52:54:00:aa:10:01"

// vmConfig is how qemu runs the VM.
type vmConfig struct {
	kernel, initrd string
	mem, smp       string
	accel          string
	// apiPort: with a port, qemu's user-mode network with restrict=on,
	// where the guest reaches nothing but 10.0.2.100:6443; each connection
	// there starts a busybox nc to the API server on the host's loopback
	// (cmd:, unlike a chardev, runs once per connection). Without, no NIC.
	apiPort int
	// serial2 is the second serial port (ttyS1), e.g. file:<path>.
	serial2 []string
}

func (c vmConfig) args() []string {
	a := []string{"-machine", "pc", "-accel", c.accel, "-cpu", "max", "-m", c.mem, "-smp", c.smp,
		"-nographic", "-no-reboot", "-monitor", "none"}
	if c.apiPort != 0 {
		// romfile=: no PXE option ROM to load.
		a = append(a, "-netdev", fmt.Sprintf("user,id=n0,restrict=on,guestfwd=tcp:10.0.2.100:6443-cmd:/bin/busybox nc 127.0.0.1 %d", c.apiPort),
			"-device", "e1000,netdev=n0,romfile=")
	} else {
		a = append(a, "-nic", "none")
	}
	// A spare PCI NIC wired to nothing (no netdev: qemu warns it has no
	// peer, and it never passes a frame), for the tests that need real
	// hardware identity: a permanent MAC, a PCI slot and a driver, which
	// veths lack. An e1000e, so guest-net's search for the e1000 never
	// finds it; after the API NIC, so that one keeps its PCI slot.
	a = append(a, "-device", "e1000e,romfile=,mac="+spareNICMAC)
	a = append(a, "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-kernel", c.kernel, "-initrd", c.initrd,
		"-append", "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic",
		// Both ports named: naming one turns off -nographic's default.
		"-serial", "stdio")
	return append(a, c.serial2...)
}

// qemu is a running VM whose console goes to a log file.
type qemu struct {
	*child
	pumped chan struct{} // closed when the console has been read to its end
}

// bootVM starts qemu; every console line, cleaned of carriage returns and
// the firmware's terminal escapes, goes to log and, when show matches it,
// to stderr.
func bootVM(c vmConfig, log string, show *regexp.Regexp) (*qemu, error) {
	lf, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		lf.Close()
		return nil, err
	}
	cmd := exec.Command("qemu-system-x86_64", c.args()...)
	cmd.Stdout, cmd.Stderr = pw, pw
	ch, err := start("qemu", cmd, syscall.SIGKILL)
	pw.Close()
	if err != nil {
		pr.Close()
		lf.Close()
		return nil, fmt.Errorf("starting qemu: %w", err)
	}
	q := &qemu{child: ch, pumped: make(chan struct{})}
	go func() {
		defer close(q.pumped)
		defer lf.Close()
		defer pr.Close()
		pumpConsole(pr, lf, show)
	}()
	return q, nil
}

var escapes = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]|\x1bc")

func pumpConsole(r io.Reader, log io.Writer, show *regexp.Regexp) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := escapes.ReplaceAllString(strings.TrimRight(sc.Text(), "\r"), "")
		fmt.Fprintln(log, line)
		if show != nil && show.MatchString(line) {
			fmt.Fprintln(os.Stderr, line)
		}
	}
	_, _ = io.Copy(log, r) // a line too long for the scanner
}

// wait waits for qemu to exit and its console to be read, and returns
// qemu's exit status.
func (q *qemu) wait() int {
	code := q.exitCode()
	// The guestfwd's nc processes hold the console too; they go soon after.
	select {
	case <-q.pumped:
	case <-time.After(5 * time.Second):
	}
	return code
}

// tailLog returns the last n lines of a file.
func tailLog(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}
