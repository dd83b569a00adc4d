package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var (
	fig6Line     = regexp.MustCompile(`BENCH-FIG6 round=\d+ harvnet_add_ms=([\d.]+) harvnet_del_ms=([\d.]+) cni_add_ms=([\d.]+) cni_del_ms=([\d.]+)`)
	fig2VLANLine = regexp.MustCompile(`BENCH-FIG2-VLAN sample=\d+ ms=([\d.]+)`)
)

// vlanDriftRow is figure 2's row for a VID removed from the uplink.
const vlanDriftRow = "a VLAN ID removed from the uplink"

// vlansFigure is figure 6: e2e/bench/vlans in the full-kernel VM, with the
// containernetworking bridge plugin built from the version in go.mod. The
// same boot measures figure 2's VLAN drift row (TestVLANDriftRepair),
// returned apart for figure 2 (nil when the VM run failed).
func (b *bench) vlansFigure() (*Figure, *Row, error) {
	f := &Figure{ID: "6", Title: "4094 VLANs, side by side with the CNI bridge plugin",
		How: "In the full-kernel VM (`scripts/vm-test.sh -tier a`, Debian kernel under qemu software emulation, so absolute times are slower than on hardware; both sides run in the same boot, one after the other, three rounds): harvnet's reconcile pass (through the public reconcile and hostnet packages) applies VLANs 2-4094 to the uplink of a netns node as bridge-VLAN ranges and removes them again; the containernetworking `bridge` plugin, built from the `github.com/containernetworking/plugins` version in go.mod, is run as a CNI runtime runs it (CNI_COMMAND=ADD, then DEL, config on stdin) with `vlanTrunk` 2-4094, which adds one VLAN at a time to the container's host-side veth; DEL deletes that veth with its VLANs. Both sides' results are checked against `bridge vlan show` (exactly 2-4094, then none). harvnet's time is a whole pass (observe, plan, apply, verify); the plugin's is its whole run, process start and veth creation included."}
	row := func(what string) Row { return Row{What: what, Unit: "ms"} }
	hAdd, hDel, cAdd, cDel := row("harvnet: apply VLANs 2-4094"), row("harvnet: remove them"), row("bridge plugin ADD with vlanTrunk 2-4094"), row("bridge plugin DEL")
	out := filepath.Join(b.root, "_output", "bench-vm")
	plugin := filepath.Join(out, "cni", "bridge")
	if err := b.buildBridgePlugin(plugin); err != nil {
		return f, nil, err
	}
	files := filepath.Join(out, "files")
	if err := os.WriteFile(files, []byte(plugin+"\n"), 0o644); err != nil {
		return f, nil, err
	}
	cmd := exec.Command(filepath.Join(b.root, "scripts", "vm-test.sh"), "-tier", "a", "-run", "^(TestVLANs4094SideBySide|TestVLANDriftRepair)$")
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "HARVNET_VM_PKGS=./e2e/bench/vlans", "HARVNET_VM_FILES="+files,
		"HARVNET_VM_ENV=HARVNET_BENCH_VLANS=1 HARVNET_CNI_BRIDGE="+plugin, "HARVNET_VM_OUT="+out)
	start := time.Now()
	log, err := cmd.CombinedOutput()
	if err != nil {
		return f, nil, fmt.Errorf("scripts/vm-test.sh: %v: %s", err, tail(string(log), 15))
	}
	res, err := os.ReadFile(filepath.Join(out, "results.jsonl"))
	if err != nil {
		return f, nil, err
	}
	drift := &Row{What: vlanDriftRow, Unit: "ms"}
	for _, m := range fig2VLANLine.FindAllStringSubmatch(string(res), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		drift.add(v)
	}
	if len(drift.Samples) == 0 {
		drift = nil
	}
	for _, m := range fig6Line.FindAllStringSubmatch(string(res), -1) {
		for i, r := range []*Row{&hAdd, &hDel, &cAdd, &cDel} {
			v, _ := strconv.ParseFloat(m[i+1], 64)
			r.add(v)
		}
	}
	if len(hAdd.Samples) == 0 {
		return f, drift, fmt.Errorf("the VM run printed no BENCH-FIG6 line: %s", tail(string(log), 15))
	}
	ratio := Row{What: "bridge plugin ADD over harvnet's apply (medians)", Value: cAdd.p(0.5) / hAdd.p(0.5), Unit: "x"}
	ratio.Goal = "harvnet >= 20x faster"
	met := ratio.Value >= 20
	ratio.Met = &met
	if met {
		ratio.Margin = fmt.Sprintf("%.1fx the goal", ratio.Value/20)
	} else {
		ratio.Margin = fmt.Sprintf("%.1fx short of 20x", 20/ratio.Value)
	}
	f.Rows = []Row{hAdd, hDel, cAdd, cDel, ratio}
	f.Notes = append(f.Notes, fmt.Sprintf("The VM run (boot, test binary build, test, and figure 2's VLAN drift row) took %v.", time.Since(start).Round(time.Second)))
	if drift == nil {
		return f, nil, fmt.Errorf("the VM run printed no BENCH-FIG2-VLAN line: %s", tail(string(log), 15))
	}
	return f, drift, nil
}

// buildBridgePlugin builds the plugin's bridge binary at the version of
// github.com/containernetworking/plugins that go.mod requires, in a module
// of its own, so harvnet's go.sum does not grow the plugin's dependencies.
func (b *bench) buildBridgePlugin(dst string) error {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "github.com/containernetworking/plugins")
	cmd.Dir = b.root
	v, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go list -m containernetworking/plugins: %w", err)
	}
	mod, err := os.MkdirTemp("", "harvnet-bench-cni-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(mod)
	version := strings.TrimSpace(string(v))
	for _, args := range [][]string{
		{"mod", "init", "harvnet-bench-cni"},
		{"get", "github.com/containernetworking/plugins/plugins/main/bridge@" + version},
		{"build", "-o", dst, "github.com/containernetworking/plugins/plugins/main/bridge"},
	} {
		c := exec.Command("go", args...)
		c.Dir = mod
		c.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := c.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
