package hostnet

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/hoststate"
)

// Host is one network namespace: the node's own, or a test's.
type Host struct {
	netns ns.NetNS // nil: the namespace of the calling process
	nl    netlinksafe.Handle
	// raw is a second route socket in the namespace, for the requests
	// netlink has no call for (readVLANs, setVLANs).
	raw *nl.SocketHandle
	// vlanDBRefused is set once the kernel refused RTM_GETVLAN.
	vlanDBRefused atomic.Bool
	// sysctlDir is where procfs's sys directory is reachable. A container
	// runtime mounts /proc/sys read-only and refuses mounts under /proc, so
	// the agent's pod mounts the host's /proc/sys/net elsewhere.
	sysctlDir string
	hw        *hardware

	mu  sync.Mutex
	ebt *ebtables // nil until a backend is found
	// netfilter caches the parts read by exec, which have no events and
	// cost milliseconds, so they are read only on RefreshNetfilter.
	netfilter netfilterState
	// last is the last read of the host, full or scoped: the base of the
	// next scoped read (see ObserveScoped).
	last *hoststate.State

	strictOnce sync.Once
	strict     *strictReader
	strictErr  error
}

// New opens the namespace at nsPath, or the caller's own when nsPath is "".
// Only a route netlink socket is opened: the xfrm and netfilter ones a
// default handle adds are unused, and fail where their modules are absent.
func New(nsPath string) (*Host, error) {
	h := &Host{sysctlDir: DefaultSysctlDir, hw: newHardware("")}
	var err error
	if nsPath == "" {
		h.hw = newHardware(DefaultSysfsDir)
		h.nl, err = netlinksafe.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return nil, fmt.Errorf("netlink: %w", err)
		}
		if err := h.openRaw(netns.None()); err != nil {
			h.nl.Close()
			return nil, err
		}
		return h, nil
	}
	h.netns, err = ns.GetNS(nsPath)
	if err != nil {
		return nil, err
	}
	h.nl, err = netlinksafe.NewHandleAt(netns.NsHandle(h.netns.Fd()), unix.NETLINK_ROUTE)
	if err != nil {
		h.netns.Close()
		return nil, fmt.Errorf("netlink in %s: %w", nsPath, err)
	}
	if err := h.openRaw(netns.NsHandle(h.netns.Fd())); err != nil {
		h.nl.Close()
		h.netns.Close()
		return nil, fmt.Errorf("in %s: %w", nsPath, err)
	}
	return h, nil
}

func (h *Host) openRaw(ns netns.NsHandle) error {
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink: %w", err)
	}
	h.raw = &nl.SocketHandle{Socket: s}
	return nil
}

// DefaultSysctlDir is procfs's sys directory where nothing moved it.
const DefaultSysctlDir = "/proc/sys"

// SetSysctlDir makes the host read and write sysctls under dir (its net/
// must be procfs's) instead of /proc/sys.
func (h *Host) SetSysctlDir(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "net", "core")); err != nil {
		return fmt.Errorf("sysctl directory %s has no net/core: mount the host's /proc/sys/net at %s/net (%w)", dir, dir, err)
	}
	h.sysctlDir = dir
	return nil
}

// NsHandle returns the namespace for netlink subscriptions; -1 is the caller's.
func (h *Host) NsHandle() netns.NsHandle {
	if h.netns == nil {
		return netns.None()
	}
	return netns.NsHandle(h.netns.Fd())
}

// NsPath is the path of the namespace the host is in, "" for the caller's.
func (h *Host) NsPath() string {
	if h.netns == nil {
		return ""
	}
	return h.netns.Path()
}

// Close releases the netlink socket and the namespace.
func (h *Host) Close() {
	h.nl.Close()
	h.raw.Socket.Close()
	if h.strict != nil {
		h.strict.close()
	}
	if h.netns != nil {
		h.netns.Close()
	}
}

// do runs fn inside the namespace, for what has no namespace argument:
// /proc/sys files and the iptables and ebtables commands.
func (h *Host) do(fn func() error) error {
	if h.netns == nil {
		return fn()
	}
	return h.netns.Do(func(ns.NetNS) error { return fn() })
}
