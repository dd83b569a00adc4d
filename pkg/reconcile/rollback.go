package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/harvnet/harvnet/internal/clock"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/probe"
)

// DefaultProbeWindow is how long a probe that passed before a change may
// keep failing after it when the ClusterNetwork sets no timeout.
const DefaultProbeWindow = 10 * time.Second

// ProbeTimeout bounds one probe: the baseline before a change waits this
// long at most, and so does each round inside the window.
const ProbeTimeout = time.Second

// Probes is how the reconciler checks the node's connectivity around a
// change that moves its own addresses or routes.
type Probes struct {
	Prober probe.Prober
	// API says whether the API server is probed (the agent has a client).
	API   bool
	Clock clock.Clock
}

// WithProbes turns on probes and rollback: before a change that moves the
// node's addresses or routes, the probes that pass are recorded with the
// change in the state file; the caller then watches them (Pending, Commit,
// RollBack).
func (r *Reconciler) WithProbes(p Probes) *Reconciler {
	p.Clock = clock.Or(p.Clock)
	r.probes = &p
	return r
}

// MovesNode reports whether a plan moves the node's own addresses or
// routes between a NIC and the bridge: an enslave, switch or release of a
// NIC that carries them. Only such changes can cut the node off.
func MovesNode(p plan.Plan) bool {
	for _, s := range p {
		if s.Phase != plan.PhaseUplink {
			continue
		}
		for _, a := range s.Actions {
			if a.Owner != "" && (a.Op == plan.AddAddr || a.Op == plan.AddRoute) {
				return true
			}
		}
	}
	return false
}

// sameNetwork reports whether two inputs ask the same of the node's
// addresses: the spec and whether the object is going away. VLANs and
// probes do not move them.
func sameNetwork(a, b desired.Input) bool {
	return a.Deleted == b.Deleted && reflect.DeepEqual(a.Spec, b.Spec)
}

// Window is how long the probes of in may keep failing after a change.
func Window(in desired.Input) time.Duration {
	if in.Probes.TimeoutSeconds > 0 {
		return time.Duration(in.Probes.TimeoutSeconds) * time.Second
	}
	return DefaultProbeWindow
}

// effective is the input a pass reconciles to: the last good one while a
// rolled-back change is held (same generation, same retry annotation),
// the given one otherwise. A new generation or retry value ends the hold.
func (r *Reconciler) effective(in desired.Input) (desired.Input, *checkpoint.RolledBack) {
	ch := &r.uplinks.change
	rb := ch.RolledBack
	if rb == nil {
		return in, nil
	}
	if in.Deleted || in.Generation != rb.Generation || in.Retry != rb.Retry {
		slog.Info("the spec changed or a retry was asked for: trying again", "rolledBackGeneration", rb.Generation, "generation", in.Generation, "retry", in.Retry)
		ch.RolledBack = nil
		if err := r.uplinks.save(); err != nil {
			slog.Warn("state file: recording the end of a rollback hold failed", "err", err)
		}
		return in, nil
	}
	held := desired.Input{}
	if ch.Applied != nil {
		held = *ch.Applied
	}
	held.VLANs, held.NADMTUs, held.NoNADs, held.Probes = in.VLANs, in.NADMTUs, in.NoNADs, in.Probes
	held.Generation, held.Retry = in.Generation, in.Retry
	return held, rb
}

// beforeMove records, before a plan that moves the node's addresses is
// applied, which probes pass now and what to restore if they stop: in
// the state file, so a restarted agent finishes the rollback or commit.
// A repair of the applied input (drift) is not a change and is not
// probed; a newer change inside a window keeps the window's probes and
// last good input, and gets a new deadline.
func (r *Reconciler) beforeMove(in desired.Input, host *hoststate.State, p plan.Plan) error {
	if r.probes == nil || !MovesNode(p) {
		return nil
	}
	ch := &r.uplinks.change
	now := r.probes.Clock.Now()
	if pd := ch.Pending; pd != nil {
		if sameNetwork(pd.Next, in) {
			return nil
		}
		pd.Next, pd.Deadline = in, now.Add(Window(in))
		return r.uplinks.save()
	}
	var prev desired.Input
	if ch.Applied != nil {
		if sameNetwork(*ch.Applied, in) {
			return nil
		}
		prev = *ch.Applied
	}
	cands, bad := probe.Candidates(host, in.Probes.Targets, r.probes.API)
	for _, b := range bad {
		slog.Warn("probe target ignored", "problem", b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), ProbeTimeout)
	passed := probe.Passed(cands, probe.RunAll(ctx, r.probes.Prober, cands))
	cancel()
	if len(passed) == 0 {
		slog.Warn("no probe passes before this change: it is made without a rollback to fall back on", "probes", fmt.Sprint(cands))
		return nil
	}
	ch.Pending = &checkpoint.Pending{
		Previous: prev, Next: in, Probes: passed,
		Deadline: now.Add(Window(in)), Step: v1alpha1.ConditionUplinkReady,
	}
	slog.Info("probing around a change of the node's addresses", "probes", fmt.Sprint(passed), "window", Window(in))
	return r.uplinks.save()
}

// afterPass records a converged input as applied, once no change is in
// its probe window.
func (r *Reconciler) afterPass(in desired.Input, res Result) {
	ch := &r.uplinks.change
	if res.Failed() || res.Invalid != nil || ch.Pending != nil {
		return
	}
	if ch.Applied != nil && reflect.DeepEqual(*ch.Applied, in) {
		return
	}
	a := in
	ch.Applied = &a
	if err := r.uplinks.save(); err != nil {
		slog.Warn("state file: recording the applied input failed; the next pass tries again", "err", err)
		ch.Applied = nil
	}
}

func (r *Reconciler) clock() clock.Clock {
	if r.probes == nil {
		return clock.Real{}
	}
	return r.probes.Clock
}

// Pending is the change inside its probe window, nil when none.
func (r *Reconciler) Pending() *checkpoint.Pending {
	if p := r.uplinks.change.Pending; p != nil {
		c := *p
		return &c
	}
	return nil
}

// Persisted is the input the state file says to reconcile to while no
// other is known (the API server does not answer): a change in its
// window, else the last applied input; nil when there is neither.
func (r *Reconciler) Persisted() *desired.Input {
	ch := r.uplinks.change
	switch {
	case ch.Pending != nil:
		in := ch.Pending.Next
		return &in
	case ch.Applied != nil:
		in := *ch.Applied
		return &in
	}
	return nil
}

// Commit keeps the change of window (its probes passed again): its input
// becomes the last good one. A window that is no longer the pending one
// (a newer change replaced it) commits nothing.
func (r *Reconciler) Commit(window checkpoint.Pending) error {
	ch := &r.uplinks.change
	if ch.Pending == nil || !ch.Pending.Deadline.Equal(window.Deadline) {
		return nil
	}
	next := ch.Pending.Next
	ch.Applied, ch.Pending = &next, nil
	return r.uplinks.save()
}

// RollBack gives up the change of window: the last good input is held
// until the spec's generation or the retry annotation changes, and the
// next pass restores it.
func (r *Reconciler) RollBack(window checkpoint.Pending, failed probe.Probe, why error) error {
	ch := &r.uplinks.change
	if ch.Pending == nil || !ch.Pending.Deadline.Equal(window.Deadline) {
		return nil
	}
	pd := ch.Pending
	// The last good spec under the rolled-back generation and retry
	// value: what effective holds, so an agent restarted before its next
	// pass (and without the API server) keeps holding it.
	prev := pd.Previous
	prev.Generation, prev.Retry = pd.Next.Generation, pd.Next.Retry
	msg := ""
	if why != nil {
		msg = why.Error()
	}
	ch.Applied, ch.Pending = &prev, nil
	ch.RolledBack = &checkpoint.RolledBack{
		Generation: pd.Next.Generation, Retry: pd.Next.Retry, Probe: failed.String(), Why: msg,
		Step: pd.Step, Time: r.clock().Now().UTC(),
	}
	slog.Error("a change cut the node off: rolling it back", "generation", pd.Next.Generation, "probe", failed.String(), "err", msg)
	return r.uplinks.save()
}
