package monitor

import (
	"context"
	"errors"
	"fmt"
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
	// dirty are the links events named since the last Take, whether the
	// filter cares about them or not: an event pass reads those again and
	// takes every other link from its last read (see Take).
	dirty map[int]struct{}
	// lost is set when events may have been missed (before the first
	// subscription, and on every resubscription): Take then says "all".
	lost bool

	seen, ignored atomic.Uint64
	met           *metrics.Agent
	// rcvbuf is each subscription socket's receive buffer in bytes.
	rcvbuf int
	// noForce is set once forcing the buffer size was refused (no
	// CAP_NET_ADMIN): from then on rmem_max caps it.
	noForce atomic.Bool
}

// DefaultReceiveBuffer rides out bursts of VM churn without ENOBUFS. It is
// forced (SO_RCVBUFFORCE, allowed with CAP_NET_ADMIN): net.core.rmem_max,
// 208 KiB on a stock kernel, would silently cap a plain SO_RCVBUF.
const DefaultReceiveBuffer = 4 << 20

// Stats returns how many events the monitor has read and how many of them
// concerned interfaces it does not watch.
func (m *Monitor) Stats() (seen, ignored uint64) { return m.seen.Load(), m.ignored.Load() }

type linkInfo struct{ name, kind string }

// New returns a monitor of ns (netns.None() for the caller's namespace).
func New(ns netns.NsHandle, filter Filter) *Monitor {
	return &Monitor{ns: ns, filter: filter, out: make(chan struct{}, 1), links: map[int]linkInfo{}, dirty: map[int]struct{}{}, lost: true, met: metrics.OrAgent(nil), rcvbuf: DefaultReceiveBuffer}
}

// WithReceiveBuffer sets the subscriptions' receive buffer size in bytes
// (tests shrink it to make the kernel drop a subscription); it returns m.
// Call it before Run.
func (m *Monitor) WithReceiveBuffer(bytes int) *Monitor {
	m.rcvbuf = bytes
	return m
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

// Take returns the links (by index) that events named since the last
// Take, or all when events may have been lost since then and a reader must
// read every link. A link is named by its own events, its addresses' and
// its routes' (each hop of a multipath route), also when the filter
// ignores it: a VM port that came and went since the last read must not
// linger in it. Take a pass's set before reading the host, so that an
// event during the read names its link again for the next pass.
func (m *Monitor) Take() (changed []int, all bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	all, m.lost = m.lost, false
	if !all {
		changed = make([]int, 0, len(m.dirty))
		for idx := range m.dirty {
			changed = append(changed, idx)
		}
	}
	clear(m.dirty)
	return changed, all
}

func (m *Monitor) touch(indexes ...int) {
	m.mu.Lock()
	for _, idx := range indexes {
		if idx > 0 {
			m.dirty[idx] = struct{}{}
		}
	}
	m.mu.Unlock()
}

// Run subscribes until ctx ends. When a subscription ends (the kernel drops
// a socket whose buffer overflowed with ENOBUFS), it subscribes again at
// once: events are being lost, so the sooner the links are listed again the
// shorter the agent is blind. Only a subscription that cannot be made at
// all is retried with backoff.
func (m *Monitor) Run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	for first := true; ctx.Err() == nil; first = false {
		if !first {
			m.met.Resubscribes.Inc()
		}
		if m.subscribeOnce(ctx) {
			backoff = 50 * time.Millisecond
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// subscription is one set of link, address and route subscriptions. Each
// is served by a netlink goroutine that sends on its channel until its
// socket is closed; close stops them all and drains the channels, so none
// is left blocked on a send that nobody reads.
type subscription struct {
	done    chan struct{}
	linkCh  chan netlink.LinkUpdate
	addrCh  chan netlink.AddrUpdate
	routeCh chan netlink.RouteUpdate
	started [3]bool // which of link, addr, route has a goroutine to wait for
}

func (s *subscription) close() {
	close(s.done) // closes the sockets: each goroutine ends and closes its channel
	if s.started[0] {
		for range s.linkCh {
		}
	}
	if s.started[1] {
		for range s.addrCh {
		}
	}
	if s.started[2] {
		for range s.routeCh {
		}
	}
}

// subscribeOnce subscribes and serves events until a subscription ends or
// ctx does. It reports whether the subscriptions were made.
func (m *Monitor) subscribeOnce(ctx context.Context) bool {
	sub := &subscription{
		done:    make(chan struct{}),
		linkCh:  make(chan netlink.LinkUpdate, 256),
		addrCh:  make(chan netlink.AddrUpdate, 256),
		routeCh: make(chan netlink.RouteUpdate, 256),
	}
	defer sub.close()
	var nsp *netns.NsHandle
	if m.ns.IsOpen() {
		nsp = &m.ns
	}
	onErr := func(err error) {
		select {
		case <-sub.done:
			// Closing a subscription fails its readers' receives: no news.
		default:
			if ctx.Err() == nil {
				slog.Warn("netlink subscription error", "err", err)
			}
		}
	}
	force := !m.noForce.Load()
	// Links seen before this subscription may be gone: the listing below
	// starts the table again.
	m.mu.Lock()
	m.links = map[int]linkInfo{}
	m.lost = true
	m.mu.Unlock()
	if err := netlink.LinkSubscribeWithOptions(sub.linkCh, sub.done, netlink.LinkSubscribeOptions{
		Namespace: nsp, ErrorCallback: onErr, ListExisting: true, ReceiveBufferSize: m.rcvbuf, ReceiveBufferForceSize: force,
	}); err != nil {
		if force && errors.Is(err, unix.EPERM) {
			// SO_RCVBUFFORCE needs CAP_NET_ADMIN, which a real agent has.
			slog.Warn("netlink: cannot force the receive buffer size (no CAP_NET_ADMIN); net.core.rmem_max caps it, so bursts of events may overflow it", "bytes", m.rcvbuf)
			m.noForce.Store(true)
		}
		onErr(fmt.Errorf("subscribing to link events: %w", err))
		return false
	}
	sub.started[0] = true
	if err := netlink.AddrSubscribeWithOptions(sub.addrCh, sub.done, netlink.AddrSubscribeOptions{
		Namespace: nsp, ErrorCallback: onErr, ReceiveBufferSize: m.rcvbuf, ReceiveBufferForceSize: force,
	}); err != nil {
		onErr(fmt.Errorf("subscribing to address events: %w", err))
		return false
	}
	sub.started[1] = true
	if err := netlink.RouteSubscribeWithOptions(sub.routeCh, sub.done, netlink.RouteSubscribeOptions{
		Namespace: nsp, ErrorCallback: onErr, ReceiveBufferSize: m.rcvbuf, ReceiveBufferForceSize: force,
	}); err != nil {
		onErr(fmt.Errorf("subscribing to route events: %w", err))
		return false
	}
	sub.started[2] = true
	m.signal()
	for {
		select {
		case <-ctx.Done():
			return true
		case u, ok := <-sub.linkCh:
			if !ok {
				return true
			}
			m.onLink(u)
		case u, ok := <-sub.addrCh:
			if !ok {
				return true
			}
			m.onIndex(u.LinkIndex)
		case u, ok := <-sub.routeCh:
			if !ok {
				return true
			}
			m.onRoute(u)
		}
	}
}

func (m *Monitor) onLink(u netlink.LinkUpdate) {
	a := u.Link.Attrs()
	info := linkInfo{name: a.Name, kind: u.Link.Type()}
	m.touch(a.Index)
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

// onRoute counts a route event for its device, or for each hop's.
func (m *Monitor) onRoute(u netlink.RouteUpdate) {
	if len(u.MultiPath) == 0 {
		m.onIndex(u.LinkIndex)
		return
	}
	relevant := false
	for _, nh := range u.MultiPath {
		m.touch(nh.LinkIndex)
		m.mu.Lock()
		info, known := m.links[nh.LinkIndex]
		m.mu.Unlock()
		relevant = relevant || !known || m.filter(info.name, info.kind)
	}
	m.count(relevant)
}

func (m *Monitor) onIndex(index int) {
	m.touch(index)
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
