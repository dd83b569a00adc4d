package e2e

import (
	"bufio"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

// scrape is one /metrics page: the families its TYPE lines name, and each
// sample's value by its series as printed, e.g. `x_total{op="SetMaster"}`.
type scrape struct {
	families map[string]bool
	samples  map[string]float64
}

func parseScrape(text string) (scrape, error) {
	s := scrape{families: map[string]bool{}, samples: map[string]float64{}}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			s.families[strings.Fields(f)[0]] = true
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return s, fmt.Errorf("bad sample line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return s, fmt.Errorf("bad sample line %q: %v", line, err)
		}
		s.samples[line[:i]] = v
	}
	return s, sc.Err()
}

// sum adds up a family's samples whose series contains every match.
func (s scrape) sum(family string, match ...string) float64 {
	total := 0.0
	for series, v := range s.samples {
		name, _, _ := strings.Cut(series, "{")
		if name != family {
			continue
		}
		all := true
		for _, m := range match {
			all = all && strings.Contains(series, m)
		}
		if all {
			total += v
		}
	}
	return total
}

// check is one expectation on a scrape: "" when it holds.
type check struct {
	what string
	ok   func(scrape) bool
}

func (s scrape) failing(checks []check) string {
	var bad []string
	for _, c := range checks {
		if !c.ok(s) {
			bad = append(bad, c.what)
		}
	}
	return strings.Join(bad, "; ")
}

// The agent's and the controller's metrics after a scripted day: the
// network enabled on two nodes, one node's NIC switched, a NAD added, and
// the bridge deleted under the agent (drift, undone). Every family is
// scraped over HTTP, as Prometheus does, and the numbers are those the day
// must have produced.
func TestMetricsAfterADay(t *testing.T) {
	saved := cluster.AgentArgs
	// The agent listens on 127.0.0.1 in its node's namespace, as on a real
	// host; the test reaches it from inside (framework.Node.ScrapeAgent).
	cluster.AgentArgs = append(slices.Clone(saved), "--metrics-addr", framework.NodeMetricsAddr)
	t.Cleanup(func() { cluster.AgentArgs = saved })
	nodes := fresh(t, "m1", "m2")
	n1 := nodes[0]

	enable(t, "eth1", nodes...)
	cluster.SetNIC(t, "m1", "eth2")
	eventually(t, wait, func() string { return n1.PortOf(t, "eth2") })
	cluster.CreateNAD(t, "day", `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":100}`)
	eventually(t, wait, func() string {
		n, err := cluster.HNode(t, "m1")
		if err != nil {
			return err.Error()
		}
		if c := meta.FindStatusCondition(n.Status.Conditions, v1alpha1.ConditionVLANsReady); c == nil || !(slices.Contains(n.Status.NetworkIDs, 100) || strings.Contains(c.Message, "100")) {
			return fmt.Sprintf("VLAN 100 not applied nor reported: networkIDs %v, VLANsReady %+v", n.Status.NetworkIDs, c)
		}
		return ""
	})
	n1.IP(t, "link", "del", bridge)
	eventually(t, wait, func() string { return n1.PortOf(t, "eth2") })

	agentChecks := []check{
		// enable, the switch, the NAD and the repair each ended converged.
		{"passes_total{converged} >= 4", func(s scrape) bool {
			return s.sum("harvnet_reconcile_passes_total", `outcome="converged"`) >= 4
		}},
		{"no failed or invalid pass", func(s scrape) bool {
			return s.sum("harvnet_reconcile_passes_total", `outcome="failed"`)+s.sum("harvnet_reconcile_passes_total", `outcome="invalid"`) == 0
		}},
		{"every pass timed", func(s scrape) bool {
			return s.sum("harvnet_reconcile_pass_duration_seconds_count") == s.sum("harvnet_reconcile_passes_total") && s.sum("harvnet_reconcile_pass_duration_seconds_count") > 0
		}},
		// eth1 at enable, eth2 at the switch, eth2 again after the drift.
		{"actions_total{SetMaster} >= 3", func(s scrape) bool {
			return s.sum("harvnet_reconcile_actions_total", `op="SetMaster"`) >= 3
		}},
		{"actions_total{CreateBridge} >= 2 (enable, drift)", func(s scrape) bool {
			return s.sum("harvnet_reconcile_actions_total", `op="CreateBridge"`) >= 2
		}},
		{"actions_total{SetNoMaster} >= 1 (eth1 released)", func(s scrape) bool {
			return s.sum("harvnet_reconcile_actions_total", `op="SetNoMaster"`) >= 1
		}},
		{"failures_total all 0, Bridge phase listed", func(s scrape) bool {
			_, listed := s.samples[`harvnet_reconcile_failures_total{phase="Bridge"}`]
			return listed && s.sum("harvnet_reconcile_failures_total") == 0
		}},
		// eth0 (a veth, never the uplink) is listed at subscription.
		{"netlink events > ignored >= 1", func(s scrape) bool {
			ev, ig := s.sum("harvnet_netlink_events_total"), s.sum("harvnet_netlink_events_ignored_total")
			return ig >= 1 && ev > ig
		}},
		{"no resubscription", func(s scrape) bool {
			return s.families["harvnet_netlink_resubscribes_total"] && s.sum("harvnet_netlink_resubscribes_total") == 0
		}},
		// Not one per change: the agent writes at most one status per
		// 500 ms, so the switch and the NAD that follows it at once may
		// share a write, and the repaired bridge leaves the status as it
		// was. At least the enable and one later write.
		{"status writes >= 2, no write error", func(s scrape) bool {
			return s.sum("harvnet_status_writes_total") >= 2 && s.families["harvnet_status_write_errors_total"] && s.sum("harvnet_status_write_errors_total") == 0
		}},
		{"Go and process collectors served", func(s scrape) bool {
			return s.families["go_goroutines"] && s.families["process_cpu_seconds_total"]
		}},
	}
	eventually(t, wait, func() string {
		text, err := n1.ScrapeAgent()
		if err != nil {
			return err.Error()
		}
		s, err := parseScrape(text)
		if err != nil {
			return err.Error()
		}
		if msg := s.failing(agentChecks); msg != "" {
			return "agent m1: " + msg
		}
		// The gauges are set from the status the agent builds, so they
		// must match the object once no pass is left to run.
		n, err := cluster.HNode(t, "m1")
		if err != nil {
			return err.Error()
		}
		return gaugesMatch(s, n.Status)
	})

	eventually(t, wait, func() string {
		text, err := cluster.ScrapeController()
		if err != nil {
			return err.Error()
		}
		s, err := parseScrape(text)
		if err != nil {
			return err.Error()
		}
		return s.failing([]check{
			{"node_objects == 2", func(s scrape) bool { return s.sum("harvnet_controller_node_objects") == 2 }},
			{"core_nodes == 2", func(s scrape) bool { return s.sum("harvnet_controller_core_nodes") == 2 }},
			{"clusternetwork_enabled == 1", func(s scrape) bool { return s.sum("harvnet_controller_clusternetwork_enabled") == 1 }},
			{"leader == 1", func(s scrape) bool { return s.sum("harvnet_controller_leader") == 1 }},
			{"reconciles of every kind", func(s scrape) bool {
				return s.sum("harvnet_controller_reconciles_total", `kind="core-node"`) >= 2 &&
					s.sum("harvnet_controller_reconciles_total", `kind="node"`) >= 2 &&
					s.sum("harvnet_controller_reconciles_total", `kind="clusternetwork"`) >= 1
			}},
			{"reconcile errors listed", func(s scrape) bool { return s.families["harvnet_controller_reconcile_errors_total"] }},
			{"Go and process collectors served", func(s scrape) bool {
				return s.families["go_goroutines"] && s.families["process_cpu_seconds_total"]
			}},
		})
	})
}

// gaugesMatch says "" when the condition and diagnostics gauges say what
// the status says.
func gaugesMatch(s scrape, st v1alpha1.NodeStatus) string {
	if len(st.Conditions) == 0 {
		return "no conditions in status yet"
	}
	for _, c := range st.Conditions {
		for _, v := range []metav1.ConditionStatus{metav1.ConditionTrue, metav1.ConditionFalse, metav1.ConditionUnknown} {
			want := 0.0
			if v == c.Status {
				want = 1
			}
			series := fmt.Sprintf(`harvnet_node_condition{condition=%q,status=%q}`, c.Type, v)
			if got, ok := s.samples[series]; !ok || got != want {
				return fmt.Sprintf("%s = %v (present %v), want %v", series, got, ok, want)
			}
		}
	}
	open := map[string]float64{}
	for _, d := range st.Diagnostics {
		open[d.Check]++
	}
	for check, n := range open {
		if got := s.sum("harvnet_diagnostics", fmt.Sprintf(`check=%q`, check)); got != n {
			return fmt.Sprintf("harvnet_diagnostics{check=%q} = %v, status has %v", check, got, n)
		}
	}
	if got, want := s.sum("harvnet_diagnostics"), float64(len(st.Diagnostics)); got != want {
		return fmt.Sprintf("harvnet_diagnostics sums to %v, status has %v diagnostics", got, want)
	}
	return ""
}
