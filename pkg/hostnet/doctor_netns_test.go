package hostnet_test

import (
	"os/exec"
	"strings"
	"testing"

	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/doctor"
	"github.com/harvnet/harvnet/pkg/hostnet"
)

// Each test builds one pitfall in a throwaway node, sees the doctor report
// it from what hostnet really reads (RefreshNetfilter, then Observe), runs
// the printed fix inside the node and sees the diagnostic clear.

const br = "harvester-br0"

// diagnose runs the real observation and the doctor, by check/subject.
func diagnose(t *testing.T, n *nt.Node, uplink string) map[string]v1alpha1.Diagnostic {
	t.Helper()
	h, err := hostnet.New(n.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	h.RefreshNetfilter()
	st, err := h.Observe()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]v1alpha1.Diagnostic{}
	for _, d := range doctor.Run(doctor.Input{Host: st, Bridge: br, Uplink: uplink}) {
		out[d.Check+"/"+d.Subject] = d
	}
	return out
}

// seeThenFix expects the diagnostic, runs its fix (or fix, when the
// printed one talks to a daemon the node has not got) inside the node,
// and expects it gone.
func seeThenFix(t *testing.T, n *nt.Node, uplink, key, fix string) {
	t.Helper()
	d, ok := diagnose(t, n, uplink)[key]
	if !ok {
		t.Fatalf("no %s diagnostic; got %v", key, diagnose(t, n, uplink))
	}
	t.Logf("%s: %s; fix: %s", key, d.Message, d.Fix)
	if fix == "" {
		fix = d.Fix
	}
	// Each command of the fix is run by exec, not sh -c: the VM tier's
	// busybox sh would run its own ip and sysctl applets instead.
	for _, cmd := range strings.Split(fix, " && ") {
		args := append([]string{"netns", "exec", n.Name}, shellWords(cmd)...)
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("running %q of the fix: %v: %s", cmd, err, out)
		}
	}
	if d, ok := diagnose(t, n, uplink)[key]; ok {
		t.Fatalf("still there after the fix: %+v", d)
	}
}

// shellWords splits a command as sh would for the fixes the doctor
// prints: words on spaces, 'single quoted' words whole.
func shellWords(cmd string) []string {
	var out []string
	for i, part := range strings.Split(cmd, "'") {
		if i%2 == 1 {
			out = append(out, part)
			continue
		}
		out = append(out, strings.Fields(part)...)
	}
	return out
}

func nodeWithBridge(t *testing.T) *nt.Node {
	n := nt.NewNode(t)
	n.AddNIC(t, "eth1")
	n.IP(t, "link", "add", br, "type", "bridge")
	n.IP(t, "link", "set", "eth1", "master", br)
	n.IP(t, "link", "set", br, "up")
	return n
}

func TestDoctorBridgeNFCallIPTables(t *testing.T) {
	n := nodeWithBridge(t)
	if !n.HasBrNetfilter(t) {
		t.Skip("br_netfilter is not loaded: no bridge-nf-call-iptables")
	}
	n.Sysctl(t, "net.bridge.bridge-nf-call-iptables", "1")
	seeThenFix(t, n, "eth1", doctor.CheckBridgeNFCallIPTables+"/", "")
}

func TestDoctorForwardDrop(t *testing.T) {
	for _, tool := range []string{"iptables-legacy", "iptables-nft", "nft"} {
		nt.RequireTool(t, tool)
	}
	t.Run("iptables-legacy", func(t *testing.T) {
		n := nodeWithBridge(t)
		n.Exec(t, "iptables-legacy", "-P", "FORWARD", "DROP")
		n.Exec(t, "iptables-legacy", "-A", "FORWARD", "-i", "docker0", "-j", "ACCEPT")
		seeThenFix(t, n, "eth1", "ForwardDrop/iptables-legacy ip filter FORWARD", "")
	})
	t.Run("iptables-nft", func(t *testing.T) {
		n := nodeWithBridge(t)
		n.Exec(t, "iptables-nft", "-P", "FORWARD", "DROP")
		n.Exec(t, "iptables-nft", "-A", "FORWARD", "-s", "10.0.0.0/8", "-j", "ACCEPT")
		seeThenFix(t, n, "eth1", "ForwardDrop/iptables-nft ip filter FORWARD", "")
	})
	t.Run("ip6tables-nft", func(t *testing.T) {
		nt.RequireTool(t, "ip6tables-nft")
		n := nodeWithBridge(t)
		n.Exec(t, "ip6tables-nft", "-P", "FORWARD", "DROP")
		seeThenFix(t, n, "eth1", "ForwardDrop/ip6tables-nft ip6 filter FORWARD", "")
	})
	t.Run("native nftables", func(t *testing.T) {
		n := nodeWithBridge(t)
		n.Exec(t, "nft", "add table inet filter; add chain inet filter forward { type filter hook forward priority 0; policy drop; }")
		seeThenFix(t, n, "eth1", "ForwardDrop/nft inet filter forward", "")
	})
	// firewalld ends its chain in a reject (the parse test has that, from
	// real output); a drop is the same rule to the doctor and needs no
	// reject module in the VM tier's kernel.
	t.Run("firewalld's shape: policy accept, a final drop, accepts through a jump", func(t *testing.T) {
		n := nodeWithBridge(t)
		n.Exec(t, "nft", `add table inet firewalld
add chain inet firewalld filter_FORWARD { type filter hook forward priority filter + 10; policy accept; }
add chain inet firewalld filter_FWD_public
add rule inet firewalld filter_FWD_public oifname "eth9" accept
add rule inet firewalld filter_FORWARD ip saddr 10.0.0.0/8 accept
add rule inet firewalld filter_FORWARD iifname "eth9" jump filter_FWD_public
add rule inet firewalld filter_FORWARD drop`)
		// The printed fix is firewall-cmd's; the node has no firewalld,
		// so the same accept goes into its chain directly.
		seeThenFix(t, n, "eth1", "ForwardDrop/nft inet firewalld filter_FORWARD",
			`nft add chain inet firewalld filter_FWD_trusted && nft add rule inet firewalld filter_FWD_trusted accept && nft insert rule inet firewalld filter_FORWARD iifname "`+br+`" jump filter_FWD_trusted`)
	})
}

func TestDoctorStrictRPFilter(t *testing.T) {
	n := nt.NewNode(t)
	n.AddNIC(t, "eth0", "10.11.0.5/24")
	n.Sysctl(t, "net.ipv4.conf.all.rp_filter", "1")
	if d, ok := diagnose(t, n, "")["StrictRPFilter/eth0"]; ok {
		t.Fatalf("reported without policy routing: %+v", d)
	}
	n.IP(t, "rule", "add", "from", "10.11.0.5", "table", "100")
	seeThenFix(t, n, "", "StrictRPFilter/eth0", "")
}

func TestDoctorVXLANLocal(t *testing.T) {
	n := nt.NewNode(t)
	n.AddNIC(t, "eth0", "10.11.0.5/24")
	n.AddNIC(t, "eth1", "10.12.0.5/24")
	// flannel picked eth1's address but is pinned to eth0.
	n.IP(t, "link", "add", "flannel.1", "type", "vxlan", "id", "1", "local", "10.12.0.5", "dev", "eth0", "dstport", "8472")
	seeThenFix(t, n, "", "VXLANLocal/flannel.1", "")
	if out := n.IP(t, "-d", "link", "show", "flannel.1"); !strings.Contains(out, "local 10.11.0.5") {
		t.Errorf("the fix did not move the local address to eth0's: %s", out)
	}
}

func TestDoctorVXLANMTU(t *testing.T) {
	n := nt.NewNode(t)
	n.AddNIC(t, "eth0", "10.11.0.5/24")
	// Unpinned, the kernel lets it take its underlay's full MTU.
	n.IP(t, "link", "add", "vx0", "type", "vxlan", "id", "7", "local", "10.11.0.5", "dstport", "4789")
	n.IP(t, "link", "set", "vx0", "mtu", "1500")
	seeThenFix(t, n, "", "VXLANMTU/vx0", "")
}

func TestDoctorBridgeMTU(t *testing.T) {
	n := nodeWithBridge(t)
	n.IP(t, "link", "set", br, "mtu", "1400")
	seeThenFix(t, n, "eth1", "BridgeMTU/"+br, "")
}

func TestDoctorIPForward(t *testing.T) {
	n := nodeWithBridge(t)
	n.Sysctl(t, "net.ipv4.ip_forward", "0")
	seeThenFix(t, n, "eth1", "IPForward/ipv4", "")
	n.IP(t, "addr", "add", "fd00:12::5/64", "dev", br, "nodad")
	n.Sysctl(t, "net.ipv6.conf.all.forwarding", "0")
	seeThenFix(t, n, "eth1", "IPForward/ipv6", "")
}
