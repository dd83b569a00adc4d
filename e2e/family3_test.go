package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/reconcile"
)

// Fault family 3: the API server stops in the middle of a change that
// moves the management NIC's addresses (the moment eth0 gets its master).
// The API server was one of the probes that passed before the change, so
// the change is kept only if it answered again in time. Either way the
// host finishes by itself while the API server is down (no change left
// pending in the agent's state file, the node holding its addresses on
// whichever link the outcome says), and once the API server is back the
// status catches up with what the host did: Ready on eth0, or RolledBack
// with status.rollback on eth1.
func TestFamily3APIServerStoppedMidChange(t *testing.T) {
	trials, failures := 0, 0
	var worst time.Duration
	var outcomes []string
	for _, how := range []string{"graceful stop", "SIGKILL"} {
		t.Run(how, func(t *testing.T) {
			gap, outcome := apiServerStoppedMidChange(t, how == "SIGKILL")
			trials++
			if t.Failed() {
				failures++
			}
			worst = max(worst, gap)
			outcomes = append(outcomes, how+": "+outcome)
		})
	}
	fmt.Printf("family 3: trials=%d failures=%d worst-gap=%v (API server stopped at the enslave to the host finished; %s)\n",
		trials, failures, worst.Round(time.Millisecond), strings.Join(outcomes, ", "))
}

func apiServerStoppedMidChange(t *testing.T, kill bool) (time.Duration, string) {
	n1 := fresh(t, "n1")[0]
	enable(t, "eth1", n1)
	t.Cleanup(func() {
		if err := cluster.CP.StartAPIServer(); err != nil {
			t.Error(err)
		}
	})
	stopped := make(chan error, 1)
	striking := make(chan time.Time, 1)
	go func() {
		end := time.Now().Add(wait)
		for n1.PortOf(t, "eth0") != "" {
			if time.Now().After(end) {
				stopped <- fmt.Errorf("eth0 never got a master")
				return
			}
			time.Sleep(2 * time.Millisecond) // polling the kernel for the moment to strike
		}
		striking <- time.Now()
		if kill {
			stopped <- cluster.CP.KillAPIServer()
			return
		}
		stopped <- cluster.CP.StopAPIServer()
	}()
	cluster.SetNIC(t, n1.Name, "eth0")
	var struck time.Time
	select {
	case struck = <-striking:
	case err := <-stopped:
		t.Fatal(err)
	}
	// The host finishes on its own, the API server down all along.
	var kept bool
	eventually(t, reconcile.DefaultProbeWindow+wait, func() string {
		st, err := agentState(n1)
		switch {
		case err != nil:
			return err.Error()
		case st.Pending != nil:
			return "the change is still in its probe window"
		}
		kept = st.RolledBack == nil
		if kept {
			return onManagementNIC(t, n1)
		}
		e0, _ := n1.Link(t, "eth0")
		if msg := n1.PortOf(t, "eth1"); msg != "" || e0.Master != "" || !slices.Contains(e0.GlobalAddrs(), n1.Addr4()+"/24") {
			return fmt.Sprintf("rolled back, but eth1 port: %q, eth0 master %q addrs %v", msg, e0.Master, e0.GlobalAddrs())
		}
		return ""
	})
	settledIn := time.Since(struck)
	// The API server fails /readyz from SIGTERM on and exits when its
	// graceful shutdown ends; the host did not wait for either.
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	t.Logf("host finished %v after the API server was told to stop; it was gone after %v", settledIn.Round(time.Millisecond), time.Since(struck).Round(time.Millisecond))
	if err := cluster.CP.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	// An outage past the Lease's renew deadline (30 s) ends the
	// controller, as it should; the framework restarts it as a Deployment
	// would, and it leads again once the dead leader's Lease expired. The
	// tests after this one need a leading controller.
	t.Cleanup(func() { controllerLeads(t) })
	outcome := map[bool]string{true: "kept", false: "rolled back"}[kept]
	eventually(t, time.Minute, func() string {
		if kept {
			return cluster.ConditionIs(t, n1.Name, v1alpha1.ConditionUplinkReady, metav1.ConditionTrue, "Ready")
		}
		if msg := cluster.ConditionIs(t, n1.Name, v1alpha1.ConditionUplinkReady, metav1.ConditionFalse, "RolledBack"); msg != "" {
			return msg
		}
		n, err := cluster.HNode(t, n1.Name)
		if err != nil {
			return err.Error()
		}
		if rb := n.Status.Rollback; rb == nil || rb.Generation != n.Generation || rb.Probe != "API server" {
			return fmt.Sprintf("status.rollback %+v, want generation %d rolled back for the API server probe", rb, n.Generation)
		}
		return ""
	})
	return settledIn, outcome
}

// controllerLeads waits until a harvnet-controller leads again: up to the
// Lease's duration (45 s) after a leader died holding it.
func controllerLeads(t *testing.T) {
	t.Helper()
	eventually(t, 2*time.Minute, func() string {
		text, err := cluster.ScrapeController()
		if err != nil {
			return err.Error()
		}
		if !strings.Contains(text, "\nharvnet_controller_leader 1\n") {
			return "harvnet-controller does not lead (yet)"
		}
		return ""
	})
}
