package reconcile_test

import (
	"bytes"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// observingHost is a host with no links that refuses to be changed: these
// tests are about what the reconciler does with its state file, and
// anything it applies is a failure. The kernel's side is in
// checkpoint_netns_test.go.
type observingHost struct{ applied []plan.Action }

func (h *observingHost) Observe() (*hoststate.State, error) { return &hoststate.State{}, nil }
func (h *observingHost) RefreshNetfilter() plan.Missing     { return plan.Missing{} }
func (h *observingHost) Apply(a plan.Action) error {
	h.applied = append(h.applied, a)
	return nil
}

// An agent that finds the unversioned file of the agent before it reads it
// and rewrites it as version 1 at once, before its first pass.
func TestNewUpgradesAnUnversionedStateFile(t *testing.T) {
	old, err := os.ReadFile("../checkpoint/testdata/uplinks-unversioned.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := checkpoint.Path(dir)
	if err := os.WriteFile(path, old, 0o600); err != nil {
		t.Fatal(err)
	}
	want, isOld, err := checkpoint.Read(path)
	if err != nil || !isOld {
		t.Fatalf("the fixture reads as old %v, err %v", isOld, err)
	}
	if _, err := reconcile.New(&observingHost{}, testOpts, dir); err != nil {
		t.Fatal(err)
	}
	got, isOld, err := checkpoint.Read(path)
	if err != nil || isOld {
		t.Fatalf("after New: old %v, err %v; want the file rewritten as version %d", isOld, err, checkpoint.Version)
	}
	if !reflect.DeepEqual(got, want) || len(got["eth0"].Addrs) != 2 || len(got["eth0"].Routes) != 3 {
		t.Errorf("after the upgrade the record holds %+v, want %+v", got, want)
	}
}

// A corrupt file is logged once, not on every pass, and again only when
// what is wrong changes; its recovery is logged too.
func TestACorruptStateFileIsLoggedOnce(t *testing.T) {
	var logs bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	dir := t.TempDir()
	path := checkpoint.Path(dir)
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"uplinks":`)
	host := &observingHost{}
	rec, err := reconcile.New(host, testOpts, dir)
	if err != nil {
		t.Fatalf("New() with a corrupt state file: %v", err)
	}
	for range 3 {
		if res := rec.Reconcile(vlanSpec(""), true); res.Checkpoint == nil || !res.Failed() {
			t.Fatalf("Checkpoint %v, Failed %v: want the corruption, failed", res.Checkpoint, res.Failed())
		}
	}
	write(`{"version": 9}`)
	rec.Reconcile(vlanSpec(""), true)
	rec.Reconcile(vlanSpec(""), true)
	if len(host.applied) != 0 {
		t.Errorf("applied %v while the state file was corrupt", host.applied)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if res := rec.Reconcile(vlanSpec(""), true); res.Checkpoint != nil || len(res.Steps) == 0 {
		t.Errorf("after the file was removed: Checkpoint %v, %d steps; want a normal pass", res.Checkpoint, len(res.Steps))
	}

	var errs, infos []string
	for _, l := range strings.Split(logs.String(), "\n") {
		switch {
		case strings.Contains(l, "level=ERROR"):
			errs = append(errs, l)
		case strings.Contains(l, "level=INFO") && strings.Contains(l, "no longer corrupt"):
			infos = append(infos, l)
		}
	}
	if len(errs) != 2 || !strings.Contains(errs[0], "truncated") || !strings.Contains(errs[1], "version 9") {
		t.Errorf("error logs:\n%s\nwant two: the truncation, then the version", strings.Join(errs, "\n"))
	}
	for _, l := range errs {
		if !strings.Contains(l, path) {
			t.Errorf("error log does not name %s: %s", path, l)
		}
	}
	if len(infos) != 1 {
		t.Errorf("recovery logs %q, want one", infos)
	}
}
