package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/harvnet/harvnet/e2e/vm/results"
)

// testRun is one run of scripts/vm-test.sh.
type testRun struct {
	*common
	verbose      bool
	run          string
	tiers        map[string]bool
	bootTimeout  time.Duration
	goTimeout    time.Duration
	userEnv      []string
	hooks, lists []string

	hdir  string  // tier B's control plane: state and logs
	host  *vmHost // tier B's host side, while it runs
	shown [3]int  // passed, failed, skipped of the binary running, as shown
}

// setupError is a failure before the VM could report: the run counts as
// one failed test.
type setupError struct{ error }

func runTest(args []string) int {
	fs := flag.NewFlagSet("vmrun test", flag.ExitOnError)
	root := fs.String("root", "", "the repository")
	kdir := fs.String("kernel", "", "the cached kernel: vmlinuz, lib/modules, modules")
	out := fs.String("out", "", "binaries, image, console and results")
	verbose := fs.Bool("v", false, "stream the whole serial console and every test's output")
	run := fs.String("run", "", "run only the tests matching this regex (go test -run)")
	tiers := fs.String("tier", envOr("HARVNET_VM_TIERS", "ab"), "which tiers to run: a, b or ab")
	_ = fs.Parse(args)
	switch *tiers = strings.ToLower(*tiers); *tiers {
	case "a", "b", "ab", "ba":
	default:
		fmt.Fprintf(os.Stderr, "vm-test: -tier must be a, b or ab, not %q\n", *tiers)
		return 2
	}
	c, err := newCommon(*root, *kdir, *out, "vm-test: ")
	if err != nil {
		fmt.Fprintln(os.Stderr, "vm-test:", err)
		fmt.Println("0 passed, 1 failed")
		return 1
	}
	r := &testRun{common: c, verbose: *verbose, run: *run, tiers: map[string]bool{}, hdir: filepath.Join(*out, "tierb")}
	err = r.configure(*tiers)
	passed, failed := 0, 1
	if err == nil {
		passed, failed, err = r.do()
	}
	diedEarly := r.host.stop()
	if code := c.interrupted(); code != 0 {
		return code
	}
	if err != nil {
		c.say("%v", err)
		if r.tiers[results.TierB] {
			c.say("logs: control plane and controller %s", r.hdir)
		}
		fmt.Println("0 passed, 1 failed")
		return 1
	}
	if diedEarly {
		c.say("tier B: vmhost (the control plane and the controller) failed or died during the run; see %s", filepath.Join(r.hdir, "vmhost.log"))
		failed++
	}
	c.say("total %ds (console %s)", int(time.Since(c.t0).Seconds()), r.rel(filepath.Join(r.out, "console.log")))
	if failed > 0 {
		hl := ""
		if r.tiers[results.TierB] {
			hl = fmt.Sprintf(", control plane and controller %s (controller.log, kube-apiserver.log, vmhost.log)", r.hdir)
		}
		c.say("logs: console %s, results %s%s", filepath.Join(r.out, "console.log"), filepath.Join(r.out, "results.jsonl"), hl)
	}
	fmt.Printf("%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

func (r *testRun) configure(tiers string) error {
	for _, t := range tiers {
		r.tiers[strings.ToUpper(string(t))] = true
	}
	boot := 900
	if r.tiers[results.TierB] {
		boot = 1080
	}
	var err error
	if boot, err = seconds("HARVNET_VM_TIMEOUT", boot); err != nil {
		return err
	}
	r.bootTimeout = time.Duration(boot) * time.Second
	gt, err := seconds("HARVNET_VM_GO_TIMEOUT", 480)
	if err != nil {
		return err
	}
	r.goTimeout = time.Duration(gt) * time.Second
	valid := regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	for _, kv := range strings.Fields(os.Getenv("HARVNET_VM_ENV")) {
		if !valid.MatchString(kv) {
			return fmt.Errorf("HARVNET_VM_ENV: %s is not NAME=value", kv)
		}
		r.userEnv = append(r.userEnv, kv)
	}
	for _, h := range strings.Fields(os.Getenv("HARVNET_VM_HOOKS")) {
		if st, err := os.Stat(h); err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("HARVNET_VM_HOOKS: %s is not an executable file", h)
		}
		r.hooks = append(r.hooks, h)
	}
	r.lists = strings.Fields(os.Getenv("HARVNET_VM_FILES"))
	return nil
}

func seconds(name string, def int) (int, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s=%q: want seconds", name, v)
	}
	return n, nil
}

// do runs the tiers and returns the counts, or an error when the run could
// not get as far as the VM reporting.
func (r *testRun) do() (passed, failed int, err error) {
	if r.tiers[results.TierB] {
		// The control plane and the controller start while the test
		// binaries build.
		r.phase("tier B: kube-apiserver, kubectl, etcd (scripts/install-tools.sh)")
		if err := r.installTools(); err != nil {
			return 0, 0, err
		}
		r.phase("tier B: building harvnet-agent, harvnet-controller and vmhost")
		if err := r.buildHost("./cmd/harvnet-agent", "./cmd/harvnet-controller", "./e2e/vm/vmhost"); err != nil {
			return 0, 0, err
		}
		if err := r.freshHostDir(r.hdir); err != nil {
			return 0, 0, err
		}
		r.phase("tier B: starting kube-apiserver, etcd and harvnet-controller on the host (logs in " + r.rel(r.hdir) + ")")
		if r.host, err = startHost(r.root, r.hdir, filepath.Join(r.out, "bin")); err != nil {
			return 0, 0, err
		}
	}
	plan, err := r.buildTests()
	if err != nil {
		return 0, 0, err
	}
	port := 0
	if r.tiers[results.TierB] {
		r.phase("tier B: waiting for the host's control plane")
		if port, err = r.host.port(3 * time.Minute); err != nil {
			return 0, 0, fmt.Errorf("tier B: the control plane or the controller did not start (%v); log:\n%s", err,
				tailLog(filepath.Join(r.hdir, "vmhost.log"), 30))
		}
		r.say("%s", strings.TrimSpace(tailLog(filepath.Join(r.hdir, "vmhost.log"), 1)))
	}
	r.phase("building the initramfs")
	initrd := filepath.Join(r.out, "initrd.cpio")
	if err := r.image(plan).build(initrd); err != nil {
		return 0, 0, fmt.Errorf("building the initramfs: %w", err)
	}
	r.say("initramfs %d MiB, kernel %s", sizeMiB(initrd), r.kver)
	return r.boot(plan, initrd, port)
}

// buildTests builds the test binaries and the guest's runner, and returns
// the plan: tier B's binary first, then tier A's in name order
// (results.TierOrder). Each runs in its package's directory under /src, as
// go test runs it in the package's source directory, so a test finds its
// testdata (the image has every testdata directory of the module there).
func (r *testRun) buildTests() (results.Plan, error) {
	var plan results.Plan
	var pkgs []pkg
	if r.tiers[results.TierA] {
		var err error
		if pkgs, err = r.netnsPackages(); err != nil {
			return plan, err
		}
	}
	var paths []string
	for _, p := range pkgs {
		paths = append(paths, p.importPath)
	}
	shown := append([]string{}, paths...)
	if r.tiers[results.TierB] {
		shown = append(shown, "./e2e/guest")
	}
	r.phase("building test binaries for " + strings.Join(shown, " "))
	tests := filepath.Join(r.out, "tests")
	if err := os.RemoveAll(tests); err != nil {
		return plan, err
	}
	// Static, so the VM needs no libc for them; one go invocation builds
	// them in parallel.
	static := []string{"CGO_ENABLED=0"}
	if len(paths) > 0 {
		if err := r.command(static, "go", append([]string{"test", "-c", "-ldflags=-s -w", "-o", tests + "/"}, paths...)...); err != nil {
			return plan, err
		}
	}
	if r.tiers[results.TierB] {
		// Tier B's test imports client-go: built like the agent (buildHost).
		if err := r.command(nil, "go", "test", "-c", "-ldflags=-s -w", "-o", tests+"/", "./e2e/guest"); err != nil {
			return plan, err
		}
		pkgs = append(pkgs, pkg{importPath: "e2e/guest", dir: filepath.Join(r.root, "e2e", "guest")})
	}
	if err := r.command(static, "go", "build", "-ldflags=-s -w", "-o", filepath.Join(r.out, "bin")+"/", "./e2e/vm/vmguest", "cmd/test2json"); err != nil {
		return plan, err
	}
	byTier := map[string][]results.Binary{}
	for _, p := range pkgs {
		// go test -c -o dir/ names a binary after its package's last element.
		name := path.Base(p.importPath)
		if _, err := os.Stat(filepath.Join(tests, name+".test")); err != nil {
			continue // a package without tests
		}
		b := results.Binary{Name: name, Tier: results.TierA, Path: "/tests/" + name + ".test", Dir: "/src/" + r.rel(p.dir),
			Timeout: results.Duration(r.goTimeout), KillAfter: results.Duration(r.goTimeout + 30*time.Second)}
		if p.importPath == "e2e/guest" {
			b.Tier = results.TierB
			// Read by e2e/guest's TestMain.
			b.Env = []string{"HARVNET_GUEST_KUBECONFIG=/etc/harvnet-vm/tierb/admin.kubeconfig",
				"HARVNET_GUEST_AGENT_KUBECONFIG=/etc/harvnet-vm/tierb/agent.kubeconfig",
				"HARVNET_GUEST_AGENT=/usr/local/bin/harvnet-agent"}
		}
		b.Env = append(b.Env, r.userEnv...) // after tier B's, so it can override them
		if r.run != "" {
			b.Args = []string{"-test.run=" + r.run}
		}
		byTier[b.Tier] = append(byTier[b.Tier], b)
	}
	for _, t := range results.TierOrder {
		sort.Slice(byTier[t], func(i, j int) bool { return byTier[t][i].Name < byTier[t][j].Name })
		plan.Binaries = append(plan.Binaries, byTier[t]...)
	}
	if err := plan.Validate(); err != nil {
		return plan, err
	}
	return plan, nil
}

// pkg is a Go package to test: its import path and source directory.
type pkg struct{ importPath, dir string }

// netnsPackages are tier A's packages: HARVNET_VM_PKGS, or those with
// *_netns_test.go or *_fullkernel_test.go files.
func (r *testRun) netnsPackages() ([]pkg, error) {
	args := []string{"list", "-e", "-f", "{{.ImportPath}}|{{.Dir}}|{{range .TestGoFiles}} {{.}}{{end}}{{range .XTestGoFiles}} {{.}}{{end}}"}
	chosen := strings.Fields(os.Getenv("HARVNET_VM_PKGS"))
	if len(chosen) == 0 {
		args = append(args, "./...")
	} else {
		args = append(args, chosen...)
	}
	out, err := r.output("go", args...)
	if err != nil {
		return nil, err
	}
	var pkgs []pkg
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(line, "|", 3)
		if len(f) != 3 {
			continue
		}
		if len(chosen) > 0 || strings.Contains(f[2], "_netns_test.go") || strings.Contains(f[2], "_fullkernel_test.go") {
			pkgs = append(pkgs, pkg{importPath: f[0], dir: f[1]})
		}
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("no Go packages with netns tests found")
	}
	return pkgs, nil
}

// image is the test VM's initramfs: the test binaries, vmguest and
// test2json, and for tier B the agent, the guest-net hook (before any other
// hook) and the kubeconfigs vmhost wrote.
func (r *testRun) image(plan results.Plan) image {
	bin := filepath.Join(r.out, "bin")
	planJSON, _ := json.MarshalIndent(plan, "", "  ") // plain data: cannot fail
	im := image{vmdir: r.vmdir, kdir: r.kdir, kver: r.kver, lists: r.lists, plan: planJSON,
		bins: [][2]string{{filepath.Join(bin, "vmguest"), "/usr/local/bin/vmguest"}, {filepath.Join(bin, "test2json"), "/usr/local/bin/test2json"}}}
	for _, b := range plan.Binaries {
		im.tests = append(im.tests, [2]string{filepath.Join(r.out, "tests", filepath.Base(b.Path)), filepath.Base(b.Path)})
		im.dirs = append(im.dirs, b.Dir)
	}
	im.testdata = r.root
	if r.tiers[results.TierB] {
		im.hooks = append(im.hooks, [2]string{filepath.Join(r.vmdir, "guest-net"), "00-guest-net"})
		im.bins = append(im.bins, [2]string{filepath.Join(bin, "harvnet-agent"), "/usr/local/bin/harvnet-agent"})
		im.files = append(im.files,
			[2]string{filepath.Join(r.hdir, "guest", "admin.kubeconfig"), "/etc/harvnet-vm/tierb/admin.kubeconfig"},
			[2]string{filepath.Join(r.hdir, "guest", "agent.kubeconfig"), "/etc/harvnet-vm/tierb/agent.kubeconfig"})
	}
	for _, h := range r.hooks {
		im.hooks = append(im.hooks, [2]string{h, filepath.Base(h)})
	}
	// HARVNET_VM_ENV reaches the hooks too, through /init's config.
	for _, kv := range r.userEnv {
		name, value, _ := strings.Cut(kv, "=")
		im.config += "export " + name + "='" + strings.ReplaceAll(value, "'", `'\''`) + "'\n"
	}
	return im
}
