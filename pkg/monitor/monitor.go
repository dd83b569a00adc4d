package monitor

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/harvnet/harvnet/pkg/metrics"
)

// Filter says whether changes to a link (by name and netlink kind) matter.
type Filter func(name, kind string) bool

// Monitor watches one network namespace.
type Monitor struct {
	ns     netns.NsHandle
	filter Filter
	out    chan struct{}

	mu    sync.Mutex
	links map[int]linkInfo // index -> what the last link event said

	seen, ignored atomic.Uint64
	met           *metrics.Agent
}

// Stats returns how many events the monitor has read and how many of them
// concerned interfaces it does not watch.
func (m *Monitor) Stats() (seen, ignored uint64) { return m.seen.Load(), m.ignored.Load() }

type linkInfo struct{ name, kind string }

// New returns a monitor of ns (netns.None() for the caller's namespace).
func New(ns netns.NsHandle, filter Filter) *Monitor {
	return &Monitor{ns: ns, filter: filter, out: make(chan struct{}, 1), links: map[int]linkInfo{}, met: metrics.OrAgent(nil)}
}

// WithMetrics makes the monitor count events, ignored events and
// resubscriptions on met; it returns m. Call it before Run.
func (m *Monitor) WithMetrics(met *metrics.Agent) *Monitor {
	m.met = metrics.OrAgent(met)
	return m
}

// Changes signals, coalesced, that a managed interface may have changed. A
// signal is also sent after every (re)subscription, since events may have
// been lost.
func (m *Monitor) Changes() <-chan struct{} { return m.out }

// Run subscribes until ctx ends. When a subscription ends (the kernel drops
// a socket whose buffer overflowed with ENOBUFS), it subscribes again.
func (m *Monitor) Run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			m.met.Resubscribes.Inc()
		}
		started := time.Now()
		m.subscribeOnce(ctx)
		if time.Since(started) > time.Minute {
			backoff = 50 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (m *Monitor) subscribeOnce(ctx context.Context) {
	done := make(chan struct{})
	defer close(done)
	var nsp *netns.NsHandle
	if m.ns.IsOpen() {
		nsp = &m.ns
	}
	onErr := func(err error) {
		if ctx.Err() == nil {
			slog.Warn("netlink subscription error", "err", err)
		}
	}
	linkCh := make(chan netlink.LinkUpdate, 256)
	addrCh := make(chan netlink.AddrUpdate, 256)
	routeCh := make(chan netlink.RouteUpdate, 256)
	bufSize := 4 << 20 // ride out bursts of VM churn without ENOBUFS
	if err := netlink.LinkSubscribeWithOptions(linkCh, done, netlink.LinkSubscribeOptions{
		Namespace: nsp, ErrorCallback: onErr, ListExisting: true, ReceiveBufferSize: bufSize,
	}); err != nil {
		onErr(err)
		return
	}
	if err := netlink.AddrSubscribeWithOptions(addrCh, done, netlink.AddrSubscribeOptions{
		Namespace: nsp, ErrorCallback: onErr, ReceiveBufferSize: bufSize,
	}); err != nil {
		onErr(err)
		return
	}
	if err := netlink.RouteSubscribeWithOptions(routeCh, done, netlink.RouteSubscribeOptions{
		Namespace: nsp, ErrorCallback: onErr, ReceiveBufferSize: bufSize,
	}); err != nil {
		onErr(err)
		return
	}
	m.signal()
	for {
		select {
		case <-ctx.Done():
			return
		case u, ok := <-linkCh:
			if !ok {
				return
			}
			m.onLink(u)
		case u, ok := <-addrCh:
			if !ok {
				return
			}
			m.onIndex(u.LinkIndex)
		case u, ok := <-routeCh:
			if !ok {
				return
			}
			m.onIndex(u.LinkIndex)
		}
	}
}

func (m *Monitor) onLink(u netlink.LinkUpdate) {
	a := u.Link.Attrs()
	info := linkInfo{name: a.Name, kind: u.Link.Type()}
	m.mu.Lock()
	old, known := m.links[a.Index]
	switch {
	case u.IfInfomsg.Family == unix.AF_BRIDGE:
		// A bridge port notification: it carries no link kind (a VM's
		// veth would read as a physical "device"), and its delete means
		// the port left a bridge, not that the link is gone.
		info.kind = old.kind // "" when unknown: only its name can match
	case u.Header.Type == unix.RTM_DELLINK:
		delete(m.links, a.Index)
	default:
		m.links[a.Index] = info
	}
	m.mu.Unlock()
	// A rename or a deletion matters if the old name did.
	m.count(m.filter(info.name, info.kind) || (known && m.filter(old.name, old.kind)))
}

func (m *Monitor) onIndex(index int) {
	m.mu.Lock()
	info, known := m.links[index]
	m.mu.Unlock()
	m.count(!known || m.filter(info.name, info.kind))
}

// count signals a relevant event before counting it, so a reader that sees
// the count also sees the signal.
func (m *Monitor) count(relevant bool) {
	if relevant {
		m.signal()
	} else {
		m.ignored.Add(1)
		m.met.NetlinkEventsIgnored.Inc()
	}
	m.seen.Add(1)
	m.met.NetlinkEvents.Inc()
}

func (m *Monitor) signal() {
	select {
	case m.out <- struct{}{}:
	default: // a signal is already pending; it covers this change too
	}
}
