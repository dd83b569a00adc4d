package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"

	"github.com/harvnet/harvnet/internal/clock"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/desired"
	"github.com/harvnet/harvnet/pkg/metrics"
	"github.com/harvnet/harvnet/pkg/reconcile"
	"github.com/harvnet/harvnet/pkg/status"
)

// writer turns reconcile results into status writes, Events and the
// finalizer's removal. Results arrive on the loop's goroutine and never
// block it; only the newest result is written, and a failed write is
// retried with backoff until the API server answers again.
type writer struct {
	nodeName string
	opts     desired.Options
	api      nodeAPI
	recorder record.EventRecorder
	clk      clock.Clock
	met      *metrics.Agent

	latest chan reconcile.Result // capacity 1: the newest result only
	// pace spaces status writes (see statusWriteInterval).
	pace pacer
	// lastWarning is the last warning recorded, so that a problem that
	// persists across passes is one Event, not one per pass.
	lastWarning string
	// diagnosed holds the doctor's open diagnostics (check/subject), so
	// each is one Warning Event when it appears, not one per pass.
	diagnosed map[string]bool
}

func newWriter(nodeName string, opts desired.Options, api nodeAPI, rec record.EventRecorder, clk clock.Clock) *writer {
	return &writer{nodeName: nodeName, opts: opts, api: api, recorder: rec, clk: clock.Or(clk), met: metrics.OrAgent(nil), latest: make(chan reconcile.Result, 1),
		pace: pacer{every: statusWriteInterval}}
}

// paced says a status write has to wait for its turn.
type paced struct{ wait time.Duration }

func (p paced) Error() string { return fmt.Sprintf("status write paced: next in %v", p.wait) }

// A failed write is retried after firstWriteBackoff, doubling up to
// maxWriteBackoff while writes keep failing. A failed status write counts
// for the pacing (it cost the API server too): a retry sooner than
// statusWriteInterval waits out the rest as a paced write, while a failed
// finalizer removal is retried at the backoff alone.
const (
	firstWriteBackoff = 200 * time.Millisecond
	maxWriteBackoff   = 5 * time.Second
)

// push hands over a result, replacing one not yet written.
func (w *writer) push(res reconcile.Result) {
	w.events(res)
	for {
		select {
		case w.latest <- res:
			return
		default:
		}
		select {
		case <-w.latest:
		default:
		}
	}
}

func (w *writer) run(ctx context.Context) {
	backoff := firstWriteBackoff
	var pending *reconcile.Result
	var retry <-chan time.Time // non-nil while backing off
	for {
		select {
		case <-ctx.Done():
			return
		case res := <-w.latest:
			pending = &res
			if retry != nil {
				continue // backing off: the newest result waits for the retry
			}
		case <-retry:
			retry = nil
		}
		if pending == nil {
			continue
		}
		if err := w.write(*pending); err != nil {
			var p paced
			if errors.As(err, &p) {
				retry = w.clk.After(p.wait) // no backoff: nothing failed
				continue
			}
			w.met.StatusWriteErrors.Inc()
			slog.Warn("writing node status", "node", w.nodeName, "err", err, "retry", backoff)
			retry = w.clk.After(backoff)
			backoff = min(backoff*2, maxWriteBackoff)
			continue
		}
		pending, backoff = nil, firstWriteBackoff
	}
}

// write brings the Node object in line with a result: status when it
// changed, and the finalizer off once a deletion's teardown is done.
func (w *writer) write(res reconcile.Result) error {
	node, err := w.api.cached()
	if apierrors.IsNotFound(err) {
		return nil // gone: nothing to report on
	}
	if err != nil {
		return err
	}
	next := status.Build(res, w.opts, res.Input.Generation)
	w.gauges(&next)
	// A paced status write waits for its turn; the finalizer below
	// does not: a deletion is not held up by pacing.
	var later error
	if !status.Equal(&node.Status, &next) {
		if d := w.pace.wait(w.clk.Now()); d > 0 {
			later = paced{d}
		} else {
			w.pace.sent(w.clk.Now())
			updated, err := w.updateStatus(node, next)
			if apierrors.IsConflict(err) {
				// The cache lags the API server (after an outage, say): read
				// the object itself and try once more.
				if node, err = w.api.live(); err == nil {
					updated, err = w.updateStatus(node, next)
				}
			}
			if err != nil {
				return fmt.Errorf("status: %w", err)
			}
			w.met.StatusWrites.Inc()
			node = updated
		}
	}
	if node.DeletionTimestamp != nil && res.Desired.Teardown && !res.Failed() && slices.Contains(node.Finalizers, v1alpha1.AgentFinalizer) {
		n := node.DeepCopy()
		n.Finalizers = slices.DeleteFunc(n.Finalizers, func(f string) bool { return f == v1alpha1.AgentFinalizer })
		if _, err := w.api.patchFinalizers(node, n); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("removing finalizer: %w", err)
		}
	}
	return later
}

// gauges sets the condition and diagnostics gauges from the status built
// for a pass, so they match what is (or is about to be) in the object.
func (w *writer) gauges(st *v1alpha1.NodeStatus) {
	conds := make(map[string]string, len(st.Conditions))
	for _, c := range st.Conditions {
		conds[c.Type] = string(c.Status)
	}
	w.met.SetConditions(conds)
	checks := map[string]int{}
	for _, d := range st.Diagnostics {
		checks[d.Check]++
	}
	w.met.SetDiagnostics(checks)
}

func (w *writer) updateStatus(node *v1alpha1.Node, next v1alpha1.NodeStatus) (*v1alpha1.Node, error) {
	status.SetTransitions(&node.Status, &next, metav1.Now())
	n := node.DeepCopy()
	n.Status = next
	return w.api.patchStatus(node, n)
}

// nodeRef is the Node object named, for an Event on it.
func nodeRef(name string) *v1alpha1.Node {
	ref := &v1alpha1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	ref.SetGroupVersionKind(v1alpha1.SchemeGroupVersion.WithKind("Node"))
	return ref
}

// events records what a pass changed on the host, or why it could not.
func (w *writer) events(res reconcile.Result) {
	ref := nodeRef(w.nodeName)
	if len(res.Applied) > 0 {
		what := make([]string, len(res.Applied))
		for i, a := range res.Applied {
			what[i] = a.String()
		}
		w.recorder.Event(ref, corev1.EventTypeNormal, "Applied", truncate(strings.Join(what, "; "), maxEventMessage))
	}
	reason, msg := warning(res)
	if reason+msg != w.lastWarning && reason != "" {
		w.recorder.Event(ref, corev1.EventTypeWarning, reason, msg)
	}
	w.lastWarning = reason + msg
	w.diagnosticEvents(ref, res)
}

// diagnosticEvents records a Warning for each diagnostic that was not open
// after the previous pass. An unreadable host says nothing about them, so
// it keeps the open set as it was.
func (w *writer) diagnosticEvents(ref *v1alpha1.Node, res reconcile.Result) {
	if res.Host == nil {
		return
	}
	open := map[string]bool{}
	for _, d := range status.Diagnostics(res, w.opts) {
		key := d.Check + "/" + d.Subject
		open[key] = true
		if !w.diagnosed[key] {
			w.recorder.Event(ref, corev1.EventTypeWarning, "Diagnostic"+d.Check, truncate(d.Message+"; fix: "+d.Fix, maxEventMessage))
		}
	}
	w.diagnosed = open
}

func warning(res reconcile.Result) (reason, msg string) {
	if res.Checkpoint != nil {
		return status.ReasonCheckpointCorrupt, status.CheckpointMessage(res.Checkpoint)
	}
	if res.Invalid != nil {
		return res.Invalid.Reason, res.Invalid.Message + "; the host was left as it is"
	}
	if res.Err != nil {
		return status.ReasonHostUnreadable, res.Err.Error()
	}
	if res.RolledBack != nil {
		return status.ReasonRolledBack, status.RolledBackMessage(res)
	}
	for _, s := range res.Steps {
		if s.Err != nil && s.Blocked == "" {
			return status.ReasonApplyFailed, fmt.Sprintf("%s: %v", s.Phase, s.Err)
		}
	}
	return "", ""
}

// maxEventMessage keeps Event messages within what the API server stores.
const maxEventMessage = 1024

// truncate cuts s to at most n bytes, ending in "..." when it cut. It cuts
// on a rune boundary: half a UTF-8 character would make the message
// invalid UTF-8, which the API server rejects.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n < len("...") {
		return strings.Repeat(".", max(n, 0))
	}
	cut := n - len("...")
	// A rune is at most utf8.UTFMax bytes; further back, s is not UTF-8.
	for back := 0; back < utf8.UTFMax && cut > 0 && !utf8.RuneStart(s[cut]); back++ {
		cut--
	}
	return s[:cut] + "..."
}
