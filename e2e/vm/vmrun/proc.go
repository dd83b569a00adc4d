package main

import (
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// child is a process vmrun started and is the only one to stop: in its own
// process group (a terminal's Ctrl-C reaches vmrun only, which stops it in
// order), and killed by the kernel should vmrun die (Pdeathsig).
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited and been reaped
	err  error         // Wait's, once done is closed
}

// start starts cmd. Pdeathsig fires when the thread that forked the child
// exits, and Go ends threads at will, so the fork happens on a thread
// locked to a goroutine that stays until the child is reaped.
func start(name string, cmd *exec.Cmd, deathSig syscall.Signal) (*child, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = deathSig
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.err = cmd.Wait()
		close(c.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return c, nil
}

// exited reports whether the child has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// exitCode is the child's exit status once it has exited: -1 when a
// signal ended it.
func (c *child) exitCode() int {
	<-c.done
	return c.cmd.ProcessState.ExitCode()
}

// stop signals the child's process group with sig and waits up to grace
// for it to exit, then kills the group. Safe to call more than once.
func (c *child) stop(sig syscall.Signal, grace time.Duration) {
	if c == nil || c.exited() {
		return
	}
	pid := c.cmd.Process.Pid
	_ = syscall.Kill(-pid, sig)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-c.done
	}
}
