package reconcile

import (
	"fmt"
	"slices"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/hoststate"
	"github.com/harvnet/harvnet/pkg/plan"
)

// Host is the narrow side-effect interface the reconciler needs;
// hostnet.Host implements it.
type Host interface {
	Observe() (*hoststate.State, error)
	RefreshNetfilter() plan.Missing
	Apply(plan.Action) error
}

// maxRounds bounds apply-then-verify rounds in one pass: one to apply, one
// to learn a missing capability and re-plan without it, one to verify.
const maxRounds = 3

// Reconciler makes the host match the desired state.
type Reconciler struct {
	host     Host
	opts     desired.Options
	uplinks  *uplinkRecord
	kernel   plan.Missing // learnt from failed actions; the kernel does not change under us
	nfMissed plan.Missing // from the last RefreshNetfilter
	probes   *Probes      // nil: no probes and no rollback (see rollback.go)
	// lastNICs is how the uplink references last resolved, for an event
	// pass to read those NICs again (ownNames).
	lastNICs []v1alpha1.ResolvedNIC
}

// New returns a reconciler. stateDir keeps the record of enslaved NICs
// across restarts; "" keeps it in memory only. A corrupt record does not
// fail New: every pass reports it (Result.Checkpoint) and changes nothing
// until the file is fixed or moved aside.
func New(host Host, opts desired.Options, stateDir string) (*Reconciler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	rec, err := loadUplinkRecord(stateDir)
	if err != nil {
		return nil, err
	}
	return &Reconciler{host: host, opts: opts, uplinks: rec, kernel: plan.Missing{}, nfMissed: plan.Missing{}}, nil
}

// Result is what one pass found and did.
type Result struct {
	Input   desired.Input
	Desired desired.State
	Host    *hoststate.State // as observed at the end of the pass
	Invalid *desired.InvalidError
	// UplinkNICs is how spec.network.uplink's references resolved, also
	// when one did not (Invalid then says which).
	UplinkNICs []v1alpha1.ResolvedNIC
	Err        error // the host could not be read
	// Checkpoint is set while the state file is corrupt. The pass then
	// only observed the host: what the file would say (which NICs are
	// harvnet's, what to give back to them) is unknown, and a plan made
	// without it could cut the node off.
	Checkpoint *checkpoint.CorruptError
	Applied    []plan.Action
	Missing    plan.Missing
	Steps      []StepResult
	// RolledBack is set while the pass held the last good input because
	// a change of this generation was rolled back (Input is that input).
	RolledBack *checkpoint.RolledBack
	// Pending is the change inside its probe window after the pass.
	Pending *checkpoint.Pending
	// Scoped says the pass read again only the links events named and
	// harvnet's own (ReconcileChanged), the rest as last read.
	Scoped bool
}

// StepResult is the outcome of one phase after the pass.
type StepResult struct {
	plan.Step
	// Err is the failure that stopped the phase. Actions left in the
	// step are still to do: the pass did not converge.
	Err     error
	Blocked plan.Phase
}

// ScopedHost is a Host that can read again only what changed since its
// last read (hostnet.Host is one). A Host that cannot is read whole on
// every pass.
type ScopedHost interface {
	ObserveScoped(hoststate.Scope) (*hoststate.State, error)
}

// Reconcile runs one pass that reads the whole host. refreshNetfilter
// re-reads what has no netlink events (sysctl, iptables, ebtables);
// netlink-driven passes skip it.
func (r *Reconciler) Reconcile(in desired.Input, refreshNetfilter bool) Result {
	res := r.reconcile(in, refreshNetfilter, nil)
	res.Pending = r.Pending()
	return res
}

// ReconcileChanged runs an event pass: changed are the links (by index)
// that netlink events named since the host was last read. Only they and
// harvnet's own links are read again, so a pass costs about the same on a
// node with a thousand VM ports as on an empty one. refreshNetfilter is
// Reconcile's. The caller reads everything (Reconcile) when it may have
// missed an event, and now and then as a safety net.
func (r *Reconciler) ReconcileChanged(in desired.Input, changed []int, refreshNetfilter bool) Result {
	if changed == nil {
		changed = []int{}
	}
	res := r.reconcile(in, refreshNetfilter, changed)
	res.Pending = r.Pending()
	_, res.Scoped = r.host.(ScopedHost)
	return res
}

// observe reads the host: whole when changed is nil or the host cannot
// read only some links, else the changed links, harvnet's own and those
// the pass's actions named.
func (r *Reconciler) observe(in desired.Input, changed []int, res *Result) (*hoststate.State, error) {
	sh, ok := r.host.(ScopedHost)
	if !ok || changed == nil {
		return r.host.Observe()
	}
	return sh.ObserveScoped(hoststate.Scope{Changed: changed, Names: r.ownNames(in), Touched: touched(res)})
}

// ownNames are the links an event pass reads whatever the events said:
// the bridge, the bond, the uplinks however the spec names them and as
// they last resolved, and the NICs the state file records.
func (r *Reconciler) ownNames(in desired.Input) []string {
	names := []string{r.opts.BridgeName, r.opts.Bond(), in.Spec.Network.NIC}
	if u := in.Spec.Network.Uplink; u != nil {
		for _, n := range u.NICs {
			names = append(names, n.Name)
		}
	}
	for _, n := range r.lastNICs {
		names = append(names, n.Name)
	}
	names = append(names, r.uplinks.names()...)
	return sortedNames(names)
}

// touched are the links the pass has changed so far: read whole, their
// events may not have arrived yet.
func touched(res *Result) []string {
	var names []string
	for _, a := range res.Applied {
		names = append(names, a.Link, a.Master, a.Owner)
	}
	return sortedNames(names)
}

func sortedNames(names []string) []string {
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > 0 && names[0] == "" {
		names = names[1:]
	}
	return names
}

func (r *Reconciler) reconcile(in desired.Input, refreshNetfilter bool, changed []int) Result {
	if refreshNetfilter {
		r.nfMissed = r.host.RefreshNetfilter()
	}
	res := Result{Input: in}
	if bad := r.uplinks.usable(); bad != nil {
		return r.observeOnly(res, bad)
	}
	in, res.RolledBack = r.effective(in)
	res.Input = in
	failed := map[plan.Phase]error{}
	for round := 0; round < maxRounds; round++ {
		host, err := r.observe(in, changed, &res)
		if err != nil {
			res.Err = fmt.Errorf("reading the host network: %w", err)
			return res
		}
		res.Host = host
		p, invalid := r.plan(in, host, &res)
		if res.UplinkNICs != nil {
			r.lastNICs = res.UplinkNICs
		}
		if invalid != nil {
			res.Invalid = invalid
			// Only a vanished uplink's leftovers are taken off (vanishedUplink).
			r.apply(p, &res)
			return res
		}
		res.Steps = results(p, failed)
		if p.Empty() || len(failed) > 0 {
			break
		}
		if err := r.beforeMove(in, host, p); err != nil {
			failed[plan.PhaseUplink] = fmt.Errorf("not changed: the state file cannot record what a rollback would need: %w", err)
			res.Steps = results(p, failed)
			break
		}
		// A failure ends the pass after one more observation, so status
		// shows the host as it is; retrying is the caller's backoff.
		failed = r.apply(p, &res)
		if touchesNetfilter(res.Applied) {
			r.nfMissed = r.host.RefreshNetfilter()
		}
	}
	res.Missing = r.missing()
	r.afterPass(in, res)
	return res
}

// observeOnly is a pass that reports the host and why it changed nothing.
func (r *Reconciler) observeOnly(res Result, bad *checkpoint.CorruptError) Result {
	res.Checkpoint = bad
	res.Missing = r.missing()
	host, err := r.host.Observe()
	if err != nil {
		res.Err = fmt.Errorf("reading the host network: %w", err)
		return res
	}
	res.Host = host
	return res
}

func (r *Reconciler) plan(in desired.Input, host *hoststate.State, res *Result) (plan.Plan, *desired.InvalidError) {
	d, err := desired.Compute(in, r.opts)
	computed := d // Resolve returns an empty state when it refuses
	if err == nil {
		d, err = desired.Resolve(d, host, r.opts)
		res.UplinkNICs = d.NICs
	}
	if err != nil {
		if ie, ok := desired.AsInvalid(err); ok {
			if ie.Reason == desired.ReasonNICNotFound {
				if p, vanished := vanishedUplink(r.uplinks.missingUplink(computed, host), host, r.uplinks.carried()); vanished != nil {
					return p, vanished
				}
			}
			return nil, ie
		}
		return nil, &desired.InvalidError{Reason: desired.ReasonInvalidSpec, Message: err.Error()}
	}
	res.Desired = d
	r.uplinks.adoptRenamed(d, host)
	r.uplinks.prune(host, d)
	foreign, mark := plan.Ownership(host, d.Bridge, r.uplinks.names())
	return plan.Compute(plan.Input{Desired: d, Host: host, Missing: r.missing(), Enslaved: r.uplinks.names(), Carried: r.uplinks.carried(),
		Foreign: foreign, MarkBridge: mark}), nil
}

// apply runs each step's actions in order. A failing action ends its step,
// and steps that require a failed step are not started.
func (r *Reconciler) apply(p plan.Plan, res *Result) map[plan.Phase]error {
	failed := map[plan.Phase]error{}
	held := map[plan.Phase]bool{} // wait for a plan that knows a capability is missing
	for _, s := range p {
		if blockedBy(s, failed) != "" {
			failed[s.Phase] = fmt.Errorf("waiting for %s", blockedBy(s, failed))
			continue
		}
		if slices.ContainsFunc(s.Requires, func(r plan.Phase) bool { return held[r] }) {
			held[s.Phase] = true
			continue
		}
		for _, a := range s.Actions {
			if err := r.applyOne(a); err != nil {
				if ue, ok := plan.AsUnsupported(err); ok {
					r.kernel[ue.Cap] = ue.Why
					if ue.Blocking {
						held[s.Phase] = true
						break
					}
					continue
				}
				failed[s.Phase] = err
				break
			}
			res.Applied = append(res.Applied, a)
		}
	}
	return failed
}

// applyOne keeps the uplink record in step with the kernel: a NIC is
// recorded before it is enslaved, and what moves onto the bridge for it is
// recorded once it is there; prune forgets it after it is given back.
func (r *Reconciler) applyOne(a plan.Action) error {
	if a.Op == plan.SetMaster {
		if err := r.uplinks.add(a.Link); err != nil {
			return err
		}
	}
	if err := r.host.Apply(a); err != nil {
		return err
	}
	if a.Owner != "" && a.Link != a.Owner {
		return r.uplinks.carry(a)
	}
	return nil
}

func (r *Reconciler) missing() plan.Missing {
	m := plan.Missing{}
	for k, v := range r.nfMissed {
		m[k] = v
	}
	for k, v := range r.kernel {
		m[k] = v
	}
	return m
}

func blockedBy(s plan.Step, failed map[plan.Phase]error) plan.Phase {
	for _, req := range s.Requires {
		if failed[req] != nil {
			return req
		}
	}
	return ""
}

func results(p plan.Plan, failed map[plan.Phase]error) []StepResult {
	out := make([]StepResult, len(p))
	for i, s := range p {
		out[i] = StepResult{Step: s, Err: failed[s.Phase], Blocked: blockedBy(s, failed)}
	}
	return out
}

func touchesNetfilter(applied []plan.Action) bool {
	for _, a := range applied {
		switch a.Op {
		case plan.AddDHCPRule, plan.DelDHCPRule, plan.SetBridgeNFCall, plan.DelForwardAccept:
			return true
		}
	}
	return false
}

// Failed reports whether the pass hit an error worth retrying: the host
// could not be read, the state file is corrupt (re-read on the retry) or
// an action failed. Invalid input and missing capabilities are not
// retried; they wait for a change.
func (r Result) Failed() bool {
	if r.Err != nil || r.Checkpoint != nil {
		return true
	}
	for _, s := range r.Steps {
		if s.Err != nil || len(s.Actions) > 0 && s.Skipped == "" {
			return true
		}
	}
	return false
}
