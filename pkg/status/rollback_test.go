package status

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/checkpoint"
	"github.com/harvnet/harvnet/pkg/plan"
	"github.com/harvnet/harvnet/pkg/probe"
)

func TestBuildRolledBack(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 10, 0, time.UTC)
	for _, retry := range []string{"", "1"} {
		res := result(steady, host(), nil)
		res.RolledBack = &checkpoint.RolledBack{Generation: 4, Retry: retry, Probe: "gateway 10.0.0.1 (arp)", Why: "no ARP reply", Step: v1alpha1.ConditionUplinkReady, Time: at}
		st := Build(res, opts, 4)
		up, ready := findCond(t, st.Conditions, v1alpha1.ConditionUplinkReady), findCond(t, st.Conditions, v1alpha1.ConditionReady)
		if up.Status != "False" || up.Reason != ReasonRolledBack || ready.Status != "False" || ready.Reason != ReasonRolledBack {
			t.Fatalf("UplinkReady %+v, Ready %+v; want both False with reason RolledBack", up, ready)
		}
		for _, want := range []string{"generation 4", "gateway 10.0.0.1 (arp)", "no ARP reply", "does not try this spec again on its own", "a new generation", v1alpha1.RetryAnnotation} {
			if !strings.Contains(up.Message, want) {
				t.Errorf("retry %q: message %q does not say %q", retry, up.Message, want)
			}
		}
		if retry != "" && !strings.Contains(up.Message, `other than "1"`) {
			t.Errorf("message %q does not say which retry value was seen", up.Message)
		}
		if rb := st.Rollback; rb == nil || rb.Generation != 4 || rb.Probe != "gateway 10.0.0.1 (arp)" || rb.Step != v1alpha1.ConditionUplinkReady || rb.Retry != retry || !rb.Time.Time.Equal(at) {
			t.Errorf("status.rollback = %+v", rb)
		}
	}
}

func TestBuildProbing(t *testing.T) {
	res := result(steady, host(), nil)
	res.Pending = &checkpoint.Pending{Probes: []probe.Probe{{Kind: probe.API}}, Deadline: time.Date(2026, 11, 30, 12, 0, 10, 0, time.UTC)}
	res.Pending.Next.Generation = 5
	st := Build(res, opts, 5)
	up := findCond(t, st.Conditions, v1alpha1.ConditionUplinkReady)
	if up.Status != "False" || up.Reason != ReasonProbing || !strings.Contains(up.Message, "API server") || !strings.Contains(up.Message, "12:00:10") {
		t.Errorf("UplinkReady inside the window = %+v", up)
	}
	if st.Rollback != nil {
		t.Errorf("status.rollback set inside the window: %+v", st.Rollback)
	}
	// A step that failed on its own says more than the window.
	for i := range res.Steps {
		if res.Steps[i].Phase == plan.PhaseUplink {
			res.Steps[i].Err = errors.New("enslave eth0 to br0: operation not permitted")
		}
	}
	if up := findCond(t, Build(res, opts, 5).Conditions, v1alpha1.ConditionUplinkReady); up.Reason == ReasonProbing {
		t.Errorf("a failed uplink step reported as %+v", up)
	}
}
