package guest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/harvnet/harvnet/e2e/framework"
	nt "github.com/harvnet/harvnet/internal/netnstest"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
)

const (
	bridge = framework.Bridge
	bond   = "harvester-bo0" // the agents' default --bond-name, from the bridge's
	// Generous: the VM is emulated (TCG) and shares two host cores with
	// the API server, etcd and the controller.
	wait = 60 * time.Second
)

// TestFullKernelStory is the operator's story on a full kernel with the
// control plane on the host: enable the VLAN network, the controller
// creates the Node objects with the default NIC, the agents build a
// vlan_filtering bridge; NADs become status.networkIDs and bridge VLANs on
// the uplink, and both must agree; switching NICs (one of them to the
// management NIC) moves the uplink and its VLANs; a bond of two NICs with
// MTU 9000 asked through the API becomes the uplink with the VLANs, its
// state in status; deleting a NAD removes its
// VLAN; disabling tears everything down and gives the NICs back.
func TestFullKernelStory(t *testing.T) {
	nt.RequireKernel(t, nt.KernelHasVLANFiltering(t), "bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)")
	nt.RequireKernel(t, nt.KernelHasBroute(t), "the ebtables broute table (CONFIG_BRIDGE_EBT_BROUTE)")
	nodes := map[string]*framework.RunningNode{}
	for _, name := range []string{"n1", "n2"} {
		n, err := guest.AddNode(ctx(t), name)
		if err != nil {
			t.Fatal(err)
		}
		nodes[name] = n
	}
	n1, n2 := nodes["n1"], nodes["n2"]
	uplink := map[string]string{"n1": "eth1", "n2": "eth1"}

	t.Run("enable: the controller creates Node objects, the agents build the bridge", func(t *testing.T) {
		start := time.Now()
		guest.SetClusterNetwork(t, true, "eth1")
		for name, n := range nodes {
			eventually(t, wait, func() string {
				h, err := guest.HNode(t, name)
				if err != nil {
					return err.Error()
				}
				if h.Spec.Network.Type != v1alpha1.NetworkTypeVLAN || h.Spec.Network.NIC != "eth1" {
					return fmt.Sprintf("%s spec %+v, want vlan on eth1", name, h.Spec.Network)
				}
				return ""
			})
			eventually(t, wait, func() string { return uplinkAgrees(t, n, "eth1") })
			eventually(t, wait, func() string {
				return conditionsTrue(t, name, v1alpha1.ConditionReady, v1alpha1.ConditionBridgeReady, v1alpha1.ConditionUplinkReady,
					v1alpha1.ConditionDHCPRulesReady, v1alpha1.ConditionBridgeNetfilterReady)
			})
			rules := brouteRules(t, n, "eth1")
			if len(rules) == 0 {
				t.Errorf("%s: no broute DHCP rule for eth1 although DHCPRulesReady is True", name)
			}
			t.Logf("proved: %s: the controller set spec vlan/eth1, the agent made eth1 an up port of %s with vlan_filtering=1 and %d broute DHCP rules; Ready, BridgeReady, UplinkReady, DHCPRulesReady, BridgeNetfilterReady True (%v after enable)",
				name, bridge, len(rules), time.Since(start).Round(100*time.Millisecond))
		}
	})

	nads := map[string]string{
		"vms":   `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":100,"vlanTrunk":[{"minID":200,"maxID":202}]}`,
		"db":    `{"cniVersion":"0.3.1","type":"bridge","bridge":"harvester-br0","vlan":300}`,
		"other": `{"cniVersion":"0.3.1","type":"bridge","bridge":"other-br","vlan":400}`,
	}
	t.Run("NADs: status.networkIDs and the kernel's bridge VLANs agree", func(t *testing.T) {
		start := time.Now()
		for _, name := range []string{"vms", "db", "other"} {
			guest.CreateNAD(t, name, nads[name])
		}
		want := []int{100, 200, 201, 202, 300}
		for name, n := range nodes {
			eventually(t, wait, func() string { return vlansAgree(t, n, uplink[name], want) })
			t.Logf("proved: %s: status.networkIDs %v, VLANsReady and Ready True, and `bridge -compressvlans vlan show dev %s`: %s (%v after the NADs; other-br's VLAN 400 ignored)",
				name, want, uplink[name], compressedVLANs(t, n, uplink[name]), time.Since(start).Round(100*time.Millisecond))
		}
	})

	t.Run("switching NICs moves the uplink and its VLANs; the management NIC keeps the node reachable", func(t *testing.T) {
		start := time.Now()
		want := []int{100, 200, 201, 202, 300}
		guest.SetNIC(t, "n1", "eth0")
		guest.SetNIC(t, "n2", "eth2")
		uplink["n1"], uplink["n2"] = "eth0", "eth2"
		for name, n := range nodes {
			eventually(t, wait, func() string {
				if msg := uplinkAgrees(t, n, uplink[name]); msg != "" {
					return msg
				}
				if l, _ := n.Link(t, "eth1"); l.Master != "" {
					return fmt.Sprintf("%s: eth1 still has master %q", name, l.Master)
				}
				if v := n.BridgeVLANs(t, "eth1"); len(v) != 0 {
					return fmt.Sprintf("%s: eth1 still has bridge VLANs %v", name, v)
				}
				return vlansAgree(t, n, uplink[name], want)
			})
		}
		eventually(t, wait, func() string {
			br, _ := n1.Link(t, bridge)
			if !slices.Contains(br.GlobalAddrs(), "10.50.0.1/24") || !n1.HasDefaultRoute(bridge) {
				return fmt.Sprintf("n1: bridge addresses %v, default route on the bridge %v", br.GlobalAddrs(), n1.HasDefaultRoute(bridge))
			}
			h, err := guest.HNode(t, "n1")
			if err != nil {
				return err.Error()
			}
			if got := h.Status.NetworkStatus[bridge].IPv4Address; !slices.Contains(got, "10.50.0.1/24") {
				return fmt.Sprintf("n1: status.networkStatus[%s].ipv4Address %v", bridge, got)
			}
			return ""
		})
		guest.Switch.Ping(t, n1.Addr4())
		for _, name := range []string{"n1", "n2"} {
			t.Logf("proved: %s: uplink switched eth1 -> %s through the API; eth1 released; `bridge -compressvlans vlan show dev %s`: %s = status.networkIDs (%v after the edit)",
				name, uplink[name], uplink[name], compressedVLANs(t, nodes[name], uplink[name]), time.Since(start).Round(100*time.Millisecond))
		}
		t.Logf("proved: n1: management NIC eth0 enslaved, 10.50.0.1/24 and the default route moved onto %s (also in status), and the node answers ping", bridge)
	})

	t.Run("a bond of two NICs with MTU 9000 through the API", func(t *testing.T) {
		start := time.Now()
		want := []int{100, 200, 201, 202, 300}
		guest.SetUplink(t, "n2", &v1alpha1.UplinkSpec{
			NICs: []v1alpha1.NICRef{{Name: "eth1"}, {Name: "eth2"}},
			Bond: &v1alpha1.BondOptions{Mode: v1alpha1.BondModeActiveBackup},
		}, 9000)
		uplink["n2"] = bond
		eventually(t, wait, func() string {
			if msg := uplinkAgrees(t, n2, bond); msg != "" {
				return msg
			}
			for _, nic := range []string{"eth1", "eth2"} {
				if l, _ := n2.Link(t, nic); l.Master != bond || l.MTU != 9000 {
					return fmt.Sprintf("n2: %s master %q MTU %d, want a slave of %s at 9000", nic, l.Master, l.MTU, bond)
				}
			}
			h, err := guest.HNode(t, "n2")
			if err != nil {
				return err.Error()
			}
			if bs := h.Status.NetworkStatus[bond].Bond; bs == nil || h.Status.BondState != "up 2/2" || h.Status.MTU != 9000 || bs.Mode != v1alpha1.BondModeActiveBackup {
				return fmt.Sprintf("n2: status bondState %q mtu %d bond %+v, want up 2/2, 9000, active-backup", h.Status.BondState, h.Status.MTU, bs)
			}
			return vlansAgree(t, n2, bond, want)
		})
		t.Logf("proved: n2: spec.network.uplink eth1+eth2 (active-backup) and mtu 9000 through the API: %s of both at 9000 is the port of %s; status bondState up 2/2, mtu 9000; `bridge -compressvlans vlan show dev %s`: %s = status.networkIDs (%v after the edit)",
			bond, bridge, bond, compressedVLANs(t, n2, bond), time.Since(start).Round(100*time.Millisecond))
	})

	t.Run("deleting a NAD removes its VLAN from status and kernel", func(t *testing.T) {
		start := time.Now()
		if err := guest.NADs.Delete(ctx(t), "db"); err != nil {
			t.Fatal(err)
		}
		want := []int{100, 200, 201, 202}
		for name, n := range nodes {
			eventually(t, wait, func() string { return vlansAgree(t, n, uplink[name], want) })
		}
		t.Logf("proved: NAD db deleted: VLAN 300 gone from status.networkIDs and from the uplinks of n1 (%s) and n2 (%s) (%v)",
			compressedVLANs(t, n1, uplink["n1"]), compressedVLANs(t, n2, uplink["n2"]), time.Since(start).Round(100*time.Millisecond))
	})

	t.Run("disable: Node objects deleted, bridges torn down, NICs given back", func(t *testing.T) {
		start := time.Now()
		guest.SetClusterNetwork(t, false, "eth1")
		for name, n := range nodes {
			eventually(t, wait, func() string {
				if _, err := guest.HNode(t, name); !apierrors.IsNotFound(err) {
					return fmt.Sprintf("hnode %s still there: %v", name, err)
				}
				for _, l := range []string{bridge, bond} {
					if _, ok := n.Link(t, l); ok {
						return name + ": " + l + " still there"
					}
				}
				for _, nic := range []string{"eth0", "eth1", "eth2"} {
					l, _ := n.Link(t, nic)
					if l.Master != "" || !l.Up() {
						return fmt.Sprintf("%s: %s master %q up %v", name, nic, l.Master, l.Up())
					}
				}
				e0, _ := n.Link(t, "eth0")
				addrs := e0.GlobalAddrs()
				if want := []string{n.Addr4() + "/24", n.Addr6() + "/64"}; !slices.Equal(addrs, want) || !n.HasDefaultRoute("eth0") {
					return fmt.Sprintf("%s: eth0 addresses %v (want %v), default route on eth0 %v", name, addrs, want, n.HasDefaultRoute("eth0"))
				}
				if r := brouteRules(t, n, ""); len(r) != 0 {
					return fmt.Sprintf("%s: broute rules left: %v", name, r)
				}
				return ""
			})
		}
		guest.Switch.Ping(t, n1.Addr4())
		guest.Switch.Ping(t, n2.Addr4())
		t.Logf("proved: disable: both Node objects deleted after their agents tore down (%v): no %s, no broute rules, eth0..eth2 without master, n1's 10.50.0.1/24, fd50::1/64 and default route back on eth0, both nodes answer ping",
			time.Since(start).Round(100*time.Millisecond), bridge)
	})
}

// conditionsTrue says "" when all the node's conditions of these types are True.
func conditionsTrue(t *testing.T, name string, types ...string) string {
	for _, typ := range types {
		if msg := guest.ConditionIs(t, name, typ, metav1.ConditionTrue, ""); msg != "" {
			return msg
		}
	}
	return ""
}

// uplinkAgrees says "" when nic is an up port of a vlan_filtering bridge in
// the kernel and the API's status says the same.
func uplinkAgrees(t *testing.T, n *framework.RunningNode, nic string) string {
	if msg := n.PortOf(t, nic); msg != "" {
		return msg
	}
	br, ok := n.Link(t, bridge)
	if !ok || br.LinkInfo.Data.VLANFiltering == nil || *br.LinkInfo.Data.VLANFiltering != 1 {
		return fmt.Sprintf("%s: %s has no vlan_filtering=1 (%+v)", n.Name, bridge, br.LinkInfo)
	}
	h, err := guest.HNode(t, n.Name)
	if err != nil {
		return err.Error()
	}
	st := h.Status.NetworkStatus
	if st[nic].Master != bridge || st[bridge].VLANFiltering == nil || !*st[bridge].VLANFiltering || h.Status.UplinkStatus != v1alpha1.LinkUp {
		return fmt.Sprintf("%s: status does not show %s as the up port of a vlan_filtering %s: uplinkStatus %q, networkStatus %+v",
			n.Name, nic, bridge, h.Status.UplinkStatus, st)
	}
	return guest.ConditionIs(t, n.Name, v1alpha1.ConditionUplinkReady, metav1.ConditionTrue, "")
}

// vlansAgree says "" when status.networkIDs is want, VLANsReady is True
// and the kernel has exactly want (and the default PVID 1) on the uplink.
func vlansAgree(t *testing.T, n *framework.RunningNode, nic string, want []int) string {
	h, err := guest.HNode(t, n.Name)
	if err != nil {
		return err.Error()
	}
	if !slices.Equal(h.Status.NetworkIDs, want) {
		return fmt.Sprintf("%s: status.networkIDs %v, want %v", n.Name, h.Status.NetworkIDs, want)
	}
	if msg := conditionsTrue(t, n.Name, v1alpha1.ConditionVLANsReady, v1alpha1.ConditionReady); msg != "" {
		return msg
	}
	if got := n.BridgeVLANs(t, nic); !slices.Equal(got, append([]int{1}, want...)) {
		return fmt.Sprintf("%s: the kernel has VLANs %v on %s, want 1 (PVID) and %v", n.Name, got, nic, want)
	}
	return ""
}

// compressedVLANs is `bridge -compressvlans vlan show dev nic` on one line.
func compressedVLANs(t *testing.T, n *framework.RunningNode, nic string) string {
	out := n.Exec(t, "bridge", "-compressvlans", "vlan", "show", "dev", nic)
	_, rows, _ := strings.Cut(strings.TrimSpace(out), "\n")
	return strings.Join(strings.Fields(rows), " ")
}

// brouteRules lists the node's broute rules, only those for nic if set.
func brouteRules(t *testing.T, n *framework.RunningNode, nic string) []string {
	var out []string
	for _, r := range n.EbtablesRules(t, "broute", "BROUTING") {
		if nic == "" || strings.Contains(r.Rule, "-i "+nic+" ") {
			out = append(out, r.Rule)
		}
	}
	return out
}
