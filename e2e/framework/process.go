package framework

import (
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is a harvnet binary running in the background, logging to a file.
// With Restart it is started again when it exits, as the kubelet restarts
// a pod's container (the controller exits when it loses its Lease).
type Process struct {
	Name    string
	Log     string
	argv    []string
	restart bool

	mu      sync.Mutex
	cmd     *exec.Cmd
	stopped bool
	exited  chan struct{} // closed when supervision ends
}

// StartProcess starts argv with output appended to logPath.
func StartProcess(name, logPath string, restart bool, argv ...string) (*Process, error) {
	p := &Process{Name: name, Log: logPath, argv: argv, restart: restart, exited: make(chan struct{})}
	done, err := p.start()
	if err != nil {
		return nil, err
	}
	go p.supervise(done)
	return p, nil
}

func (p *Process) start() (<-chan error, error) {
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(p.argv[0], p.argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	// No Pdeathsig: it fires when the forking OS thread exits, which in a
	// Go program is any thread, at any time. Cluster.Close ends the groups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", p.Name, err)
	}
	p.mu.Lock()
	p.cmd = cmd
	p.mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); f.Close() }()
	return done, nil
}

func (p *Process) supervise(done <-chan error) {
	defer close(p.exited)
	for {
		<-done
		p.mu.Lock()
		again := p.restart && !p.stopped
		p.mu.Unlock()
		if !again {
			return
		}
		time.Sleep(time.Second) // the kubelet's restart backoff starts higher
		var err error
		if done, err = p.start(); err != nil {
			return
		}
	}
}

// Exited reports whether the process has ended for good.
func (p *Process) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

func (p *Process) signal(sig syscall.Signal) {
	p.mu.Lock()
	p.stopped = true
	pid := p.cmd.Process.Pid
	p.mu.Unlock()
	_ = syscall.Kill(-pid, sig)
}

// Stop ends the process: SIGTERM, then SIGKILL after a grace period.
func (p *Process) Stop() {
	if p == nil || p.Exited() {
		return
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.signal(syscall.SIGKILL)
		<-p.exited
	}
}

// Kill ends the process at once, as a crash would, and does not restart it.
func (p *Process) Kill() {
	p.signal(syscall.SIGKILL)
	<-p.exited
}
