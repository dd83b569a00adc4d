package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/harvnet/harvnet/e2e/vm/results"
)

// build compiles what the guest runs, as the host does for the VM: the real
// cmd/test2json and a real test binary (testdata/sample).
func build(t *testing.T) (dir string) {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("needs the go command to build test2json and a test binary")
	}
	dir = t.TempDir()
	for _, args := range [][]string{
		{"build", "-o", filepath.Join(dir, "test2json"), "cmd/test2json"},
		{"test", "-c", "-o", filepath.Join(dir, "sample.test"), "./testdata/sample"},
	} {
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, out)
		}
	}
	hang := filepath.Join(dir, "hang.test")
	// A binary that outlives its own -test.timeout (the guest must kill it).
	if err := os.WriteFile(hang, []byte("#!/bin/sh\nexec sleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The guest runs a plan of real binaries through the real test2json, and
// what it writes sums up on the host to exactly what each binary did.
func TestRunPlan(t *testing.T) {
	dir := build(t)
	bin := func(name, path string, env ...string) results.Binary {
		return results.Binary{Name: name, Tier: results.TierA, Path: path, Env: env,
			Timeout: results.Duration(time.Minute), KillAfter: results.Duration(time.Minute)}
	}
	sample := filepath.Join(dir, "sample.test")
	hang := bin("hang", filepath.Join(dir, "hang.test"))
	hang.KillAfter = results.Duration(500 * time.Millisecond)
	plan := results.Plan{Binaries: []results.Binary{
		bin("pass", sample, "SAMPLE=pass"),
		bin("fail", sample, "SAMPLE=fail"),
		bin("crash", sample, "SAMPLE=panic"),
		bin("missing", filepath.Join(dir, "no-such.test")),
		hang,
	}}
	var out bytes.Buffer
	if code := run(plan, &out, filepath.Join(dir, "test2json"), filepath.Join(dir, "work")); code != 1 {
		t.Errorf("run exited %d, want 1 (some binaries failed)", code)
	}
	recs, garbled, err := results.ReadAll(&out)
	if err != nil || garbled != 0 {
		t.Fatalf("reading the records: %v, %d garbled", err, garbled)
	}
	s := results.Summarize(plan, recs)
	want := map[string][3]int{ // passed, failed, skipped
		"pass":    {3, 0, 1}, // TestPass, TestPass/sub, TestMaybeFail
		"fail":    {2, 1, 1},
		"crash":   {2, 1, 1}, // exited 3 without a failed test
		"missing": {0, 1, 0},
		"hang":    {0, 1, 0},
	}
	for _, b := range s.Binaries {
		if got := [3]int{b.Passed, b.Failed, b.Skipped}; got != want[b.Name] {
			t.Errorf("%s: passed, failed, skipped %v, want %v", b.Name, got, want[b.Name])
		}
	}
	if !s.Done || s.Passed != 7 || s.Failed != 4 || s.Skipped != 3 {
		t.Errorf("done %v, %d passed, %d failed, %d skipped; want done, 7, 4, 3", s.Done, s.Passed, s.Failed, s.Skipped)
	}
	var text bytes.Buffer
	s.Write(&text)
	for _, w := range []string{"failing on purpose", "exited 3 without a failed test", "no-such.test", "killed 500ms after it started"} {
		if !strings.Contains(text.String(), w) {
			t.Errorf("the summary does not say %q:\n%s", w, text.String())
		}
	}
}

// A plan whose binaries all pass makes the guest exit 0.
func TestRunPlanAllPass(t *testing.T) {
	dir := build(t)
	plan := results.Plan{Binaries: []results.Binary{{Name: "pass", Tier: results.TierB, Path: filepath.Join(dir, "sample.test"),
		Env: []string{"SAMPLE=pass"}, Timeout: results.Duration(time.Minute), KillAfter: results.Duration(time.Minute)}}}
	var out bytes.Buffer
	if code := run(plan, &out, filepath.Join(dir, "test2json"), filepath.Join(dir, "work")); code != 0 {
		t.Errorf("run exited %d, want 0", code)
	}
	recs, _, _ := results.ReadAll(&out)
	if s := results.Summarize(plan, recs); s.Failed != 0 || s.Passed != 3 {
		t.Errorf("%d passed, %d failed; want 3, 0", s.Passed, s.Failed)
	}
}
