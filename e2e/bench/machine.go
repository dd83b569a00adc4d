package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// machine describes where the figures were taken.
func machine(root string) []string {
	cpu := "unknown CPU"
	if f, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(f), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "?"
	if kb, err := meminfoKB("MemTotal"); err == nil {
		mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	load, _ := os.ReadFile("/proc/loadavg")
	commit := gitOut(root, "rev-parse", "HEAD")
	if gitOut(root, "status", "--porcelain", "--untracked-files=no") != "" {
		commit += " (with uncommitted changes)"
	}
	return []string{
		fmt.Sprintf("CPU: %s, %d cores (runtime.NumCPU), memory %s", cpu, runtime.NumCPU(), mem),
		"kernel: " + strings.TrimSpace(string(kernel)),
		"git commit: " + commit,
		"load average at start (1/5/15 min): " + strings.Join(strings.Fields(string(load))[:3], " ") + " — figures from a busy machine are noisy; rerun on a quiet one",
		"Go: " + runtime.Version(),
	}
}

func gitOut(dir string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

func meminfoKB(key string) (int64, error) {
	return statusKB("/proc/meminfo", key)
}

// statusKB reads a "Key:   123 kB" line from a /proc file.
func statusKB(path, key string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && k == key {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %s", path, key)
}

// proc is a running process, found by its command line, read through the
// kernel's own accounting in /proc.
type proc struct {
	pid  int
	name string
}

// findProc returns the one process whose command line contains every
// one of parts (the e2e framework does not expose its pids; the argv, with
// the run's own directory in it, is unique).
func findProc(name string, parts ...string) (proc, error) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	var found []int
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/cmdline")
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(argv) == 0 || !strings.HasSuffix(argv[0], name) {
			continue // ip netns exec's own process before it execs, a shell
		}
		line := strings.Join(argv, " ")
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			pid, _ := strconv.Atoi(filepath.Base(d))
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		return proc{}, fmt.Errorf("want one %s process with %q, found %v", name, parts, found)
	}
	return proc{pid: found[0], name: name}, nil
}

// waitProc retries findProc until the process has exec'd.
func waitProc(name string, parts ...string) (proc, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := findProc(name, parts...)
		if err == nil || time.Now().After(deadline) {
			return p, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// clkTck is USER_HZ, which /proc/<pid>/stat counts in; 100 on every Linux
// architecture Go supports.
const clkTck = 100

// cpuSeconds is the process's user+system CPU time so far.
func (p proc) cpuSeconds() (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; fields count from after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat", p.pid)
	}
	return (ut + st) / clkTck, nil
}

// memMiB reads VmRSS or VmHWM in MiB.
func (p proc) memMiB(key string) (float64, error) {
	kb, err := statusKB(fmt.Sprintf("/proc/%d/status", p.pid), key)
	return float64(kb) / 1024, err
}

// cpuMeter measures a process's average CPU share of one core.
type cpuMeter struct {
	p     proc
	start time.Time
	cpu0  float64
}

func startCPU(p proc) (*cpuMeter, error) {
	c, err := p.cpuSeconds()
	return &cpuMeter{p: p, start: time.Now(), cpu0: c}, err
}

// percent of one core since start.
func (m *cpuMeter) percent() (float64, error) {
	c, err := m.p.cpuSeconds()
	if err != nil {
		return 0, err
	}
	return 100 * (c - m.cpu0) / time.Since(m.start).Seconds(), nil
}
