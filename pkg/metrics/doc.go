// Package metrics defines harvnet's Prometheus metrics for both binaries.
// It imports nothing host-side, so the controller can link it
// (scripts/check-deps.sh). Components get their metrics passed in, and a
// nil Registerer gives working but unregistered metrics, so unit tests of
// other logic need not care and tests of the metrics use fresh registries.
package metrics
