// Package plan diffs the desired host network against the observed one and
// returns the ordered actions that close the gap. It is pure, so every
// ordering rule (addresses before enslaving, gateway routes last, release
// before switching NICs) is table-tested without a kernel.
package plan
