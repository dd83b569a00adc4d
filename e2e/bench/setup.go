package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/harvnet/harvnet/e2e/framework"
	"github.com/harvnet/harvnet/pkg/apis/network.harvesterhci.io/v1alpha1"
	"github.com/harvnet/harvnet/pkg/generated/clientset/versioned"
)

// setUp starts the control plane and the controller, enables the VLAN
// network with eth1 as default NIC, and adds node bn1 with its agent at
// its defaults (--resync 5s).
func (b *bench) setUp() error {
	var err error
	if b.top, err = os.MkdirTemp("", "harvnet-bench-"); err != nil {
		return err
	}
	// One more try when the control plane does not come up: on a machine
	// shared with other runs a free port can be taken before the API
	// server binds it.
	for try := 0; ; try++ {
		b.c, err = framework.NewCluster(b.root, filepath.Join(b.top, fmt.Sprint(try)), fmt.Sprintf("hb%d", os.Getpid()%10000), filepath.Join(b.root, "bin"))
		if err == nil {
			break
		}
		b.c.Close()
		if try == 1 {
			return err
		}
		fmt.Println("bench: starting the cluster again:", err)
	}
	b.dir = b.c.Dir
	admin, err := b.c.CP.Admin()
	if err != nil {
		return err
	}
	admin.QPS, admin.Burst = 2000, 2000
	b.admin = admin
	if b.kube, err = kubernetes.NewForConfig(admin); err != nil {
		return err
	}
	if b.net, err = versioned.NewForConfig(admin); err != nil {
		return err
	}
	if err := b.c.StartController(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := b.setClusterNetwork(ctx, true, "eth1"); err != nil {
		return err
	}
	if b.node, err = b.c.AddNode(ctx, nodeName); err != nil {
		return err
	}
	return b.waitUplink(ctx, "eth1")
}

// eventually retries cond until it says "" or ctx ends.
func eventually(ctx context.Context, limit time.Duration, cond func() string) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		why := cond()
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("after %v: %s", limit, why)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (b *bench) setClusterNetwork(ctx context.Context, enable bool, nic string) error {
	return eventually(ctx, time.Minute, func() string {
		cn, err := b.net.NetworkV1alpha1().ClusterNetworks().Get(ctx, v1alpha1.ClusterNetworkVLAN, metav1.GetOptions{})
		if err != nil {
			return "ClusterNetwork vlan: " + err.Error()
		}
		if cn.Spec.Enable == enable && cn.Spec.DefaultPhysicalNIC == nic {
			return ""
		}
		cn.Spec.Enable, cn.Spec.DefaultPhysicalNIC = enable, nic
		if _, err := b.net.NetworkV1alpha1().ClusterNetworks().Update(ctx, cn, metav1.UpdateOptions{}); err != nil {
			return err.Error()
		}
		return "updated"
	})
}

// setNIC makes nic bn1's uplink, as an admin edits the object.
func (b *bench) setNIC(ctx context.Context, nic string) error {
	err := eventually(ctx, time.Minute, func() string {
		n, err := b.net.NetworkV1alpha1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if n.Spec.Network.NIC == nic {
			return ""
		}
		n.Spec.Network.NIC = nic
		if _, err := b.net.NetworkV1alpha1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			return err.Error()
		}
		return "updated"
	})
	if err != nil {
		return err
	}
	return b.waitUplink(ctx, nic)
}

// waitUplink waits until nic is a port of the bridge and status says the
// uplink is ready.
func (b *bench) waitUplink(ctx context.Context, nic string) error {
	return eventually(ctx, time.Minute, func() string {
		if out, err := b.node.TryIP("-o", "link", "show", nic); err != nil || !strings.Contains(out, "master "+framework.Bridge) {
			return fmt.Sprintf("%s is not a port of the bridge: %s", nic, out)
		}
		n, err := b.net.NetworkV1alpha1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
		if err != nil {
			return err.Error()
		}
		if c := meta.FindStatusCondition(n.Status.Conditions, v1alpha1.ConditionUplinkReady); c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Sprintf("UplinkReady is %+v", c)
		}
		return ""
	})
}

// restartAgent starts bn1's agent again with these extra flags.
func (b *bench) restartAgent(args ...string) error {
	b.node.Agent.Stop()
	b.c.AgentArgs = args
	return b.c.StartAgent(nodeName)
}

// agentProc finds bn1's agent process (the one with its state directory).
func (b *bench) agentProc() (proc, error) {
	return waitProc("harvnet-agent", "--node-name "+nodeName, b.dir)
}

func (b *bench) controllerProc() (proc, error) {
	return waitProc("harvnet-controller", b.dir)
}

func (b *bench) adminConfig() *rest.Config { return rest.CopyConfig(b.admin) }

func (b *bench) createCoreNode(ctx context.Context, name string) error {
	_, err := b.kube.CoreV1().Nodes().Create(ctx, coreNode(name), metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// binarySize reports the agent binary as make build leaves it.
func (b *bench) binarySize(bin string) {
	for _, name := range []string{"harvnet-agent", "harvnet-controller"} {
		if fi, err := os.Stat(filepath.Join(bin, name)); err == nil {
			b.rep.Extra = append(b.rep.Extra, fmt.Sprintf("%s binary (`make build`, not stripped): %.1f MiB", name, float64(fi.Size())/(1<<20)))
		}
	}
}

// testTimesFile is where the lead records `make test` and CI times on a
// fresh clone; the report quotes it.
const testTimesFile = "bench-test-times.txt"

func (b *bench) testTimes() {
	raw, err := os.ReadFile(filepath.Join(b.root, testTimesFile))
	if err != nil || strings.TrimSpace(string(raw)) == "" {
		b.rep.Extra = append(b.rep.Extra, fmt.Sprintf("`make test` and CI times on a fresh clone: **TO BE FILLED IN** (not measured by `make bench`: write them into `%s` at the repository root, one line each, and run `make bench` again to quote them here)", testTimesFile))
		return
	}
	for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		b.rep.Extra = append(b.rep.Extra, "from "+testTimesFile+": "+strings.TrimSpace(l))
	}
}

func sortFigures(fs []*Figure) {
	slices.SortStableFunc(fs, func(a, b *Figure) int {
		x, _ := strconv.Atoi(a.ID)
		y, _ := strconv.Atoi(b.ID)
		return x - y
	})
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }
