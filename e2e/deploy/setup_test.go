package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nt "github.com/harvnet/harvnet/internal/netnstest"
)

// setup provisions what the tier needs (both cached: a warm run only
// checks), brings the kubelet cluster up with the image loaded, and tears
// it down when the test ends. Without root or tools the tier skips, and
// under CI=true, where nothing may skip, it fails.
func setup(t *testing.T) *Cluster {
	t.Helper()
	if os.Geteuid() != 0 {
		skip(t, "the kubelet tier needs root (network and mount namespaces)")
	}
	for _, tool := range []string{"nsenter", "unshare", "ip", "ping", "curl"} {
		if !nt.Have(tool) {
			skip(t, tool+" not found")
		}
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Root: root, Dir: filepath.Join(root, "_output", "deploy"), Prefix: "hd"}
	script(t, c, nil, "scripts/install-tools.sh", "--cluster")
	archive := strings.TrimSpace(lastLine(script(t, c, nil, "scripts/image.sh")))
	tag := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(archive), "harvnet-"), ".oci.tar")
	imageTag = tag

	env := []string{"HARVNET_CLUSTER_PREFIX=" + c.Prefix, "HARVNET_IMAGES=" + archive}
	down := func() {
		if out, err := exec.Command(filepath.Join(root, "scripts", "cluster-down.sh"), c.Dir).CombinedOutput(); err != nil {
			t.Errorf("cluster-down: %v: %s", err, out)
		}
	}
	script(t, c, env, "scripts/cluster-down.sh", c.Dir) // a killed run's leftovers
	start := time.Now()
	t.Cleanup(down)
	out := script(t, c, env, "scripts/cluster-up.sh", c.Dir)
	fmt.Printf("deploy: cluster up in %.0fs (2 kubelet nodes, image %s)\n", time.Since(start).Seconds(), tag)
	_ = out
	if err := c.connect(); err != nil {
		t.Fatal(err)
	}
	return c
}

// imageTag is the tag of the image make image built for this run.
var imageTag string

func skip(t *testing.T, why string) {
	t.Helper()
	if nt.InCI() {
		t.Fatalf("CI=true and the kubelet tier cannot run: %s", why)
	}
	t.Skip(why)
}

// script runs one of scripts/ with root as the working directory; its
// stderr goes to the test log, its stdout is returned.
func script(t *testing.T, c *Cluster, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(c.Root, name), args...)
	cmd.Dir = c.Root
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("%s: %s", name, s)
	}
	if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return string(out)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// step runs one numbered step of the story as a subtest and prints its
// summary line; a failed step ends the story (the next ones build on it).
func step(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	start := time.Now()
	ok := t.Run(name, f)
	res := "ok"
	if !ok {
		res = "FAIL"
	}
	fmt.Printf("deploy: %-62s %s (%.1fs)\n", name, res, time.Since(start).Seconds())
	if !ok {
		t.FailNow()
	}
}
