package agent

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"

	"github.com/harvnet/harvnet/internal/clock"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/metrics"
	"github.com/harvnet/harvnet/pkg/status"
)

func withMetrics(w *writer) *metrics.Agent {
	w.met = metrics.NewAgent(prometheus.NewRegistry())
	return w.met
}

// A write counts only when status changed; failed attempts count as
// errors, each retried.
func TestWriterCountsWritesAndErrors(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	api := &fakeAPI{cache: node("5"), statusErrs: []error{unavailable(), unavailable()}, called: make(chan string, 100)}
	w := newWriter(nodeName, opts, api, record.NewFakeRecorder(100), clk)
	m := withMetrics(w)
	runWriter(t, w)
	w.push(result(1))
	for i := 1; i <= 2; i++ {
		waitCall(t, api, "updateStatus gen=1 rv=5")
		tm := clk.NextTimer(t) // armed after the error is counted
		if got := testutil.ToFloat64(m.StatusWriteErrors); got != float64(i) {
			t.Fatalf("write errors %v after %d failures", got, i)
		}
		tm.Fire(t)
		if tm.D < statusWriteInterval {
			clk.NextTimer(t).Fire(t) // the retry was paced: that is no error
		}
	}
	if got := testutil.ToFloat64(m.StatusWriteErrors); got != 2 {
		t.Fatalf("write errors %v after 2 failures and paced retries", got)
	}
	waitCall(t, api, "updateStatus gen=1 rv=5")
	end := time.Now().Add(clock.Patience)
	for testutil.ToFloat64(m.StatusWrites) != 1 {
		if time.Now().After(end) {
			t.Fatalf("status writes %v after one success, want 1", testutil.ToFloat64(m.StatusWrites))
		}
		time.Sleep(time.Millisecond)
	}

	// The same status again is not written, and not counted.
	w2 := newWriter(nodeName, opts, &fakeAPI{cache: node("5", withStatus(result(1)))}, record.NewFakeRecorder(100), clk)
	m2 := withMetrics(w2)
	if err := w2.write(result(1)); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(m2.StatusWrites); got != 0 {
		t.Fatalf("an unchanged status counted %v writes", got)
	}
}

// The condition and diagnostics gauges follow the status the writer
// builds, whether or not it had to be written.
func TestWriterSetsConditionAndDiagnosticsGauges(t *testing.T) {
	w := newWriter(nodeName, opts, &fakeAPI{cache: node("5")}, record.NewFakeRecorder(100), nil)
	m := withMetrics(w)
	res := result(1, hostUnreadable)
	if err := w.write(res); err != nil {
		t.Fatal(err)
	}
	st := status.Build(res, opts, res.Input.Generation)
	if len(st.Conditions) == 0 {
		t.Fatal("the built status has no conditions to check the gauges against")
	}
	for _, c := range st.Conditions {
		for _, s := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown} {
			want := 0.0
			if s == c.Status {
				want = 1
			}
			if got := testutil.ToFloat64(m.Conditions.WithLabelValues(c.Type, string(s))); got != want {
				t.Errorf("harvnet_node_condition{condition=%q,status=%q} = %v, want %v", c.Type, s, got, want)
			}
		}
	}
	w.gauges(&v1alpha1.NodeStatus{Diagnostics: []v1alpha1.Diagnostic{{Check: "ip-forward"}, {Check: "mtu"}, {Check: "mtu"}}})
	if got := testutil.ToFloat64(m.Diagnostics.WithLabelValues("mtu")); got != 2 {
		t.Errorf("mtu diagnostics %v, want 2", got)
	}
	w.gauges(&v1alpha1.NodeStatus{})
	if got := testutil.ToFloat64(m.Diagnostics.WithLabelValues("mtu")); got != 0 {
		t.Errorf("mtu diagnostics %v after they cleared, want 0", got)
	}
}
