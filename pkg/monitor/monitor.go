package monitor

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

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
	// hops is the last route event's next hops, reused (Run's goroutine).
	hops []int
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

// touchLocked names a link for the next Take; m.mu is held.
func (m *Monitor) touchLocked(idx int) {
	if idx > 0 {
		m.dirty[idx] = struct{}{}
	}
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

// subscribeOnce subscribes and serves events until the subscription ends
// or ctx does. It reports whether the subscription was made.
func (m *Monitor) subscribeOnce(ctx context.Context) bool {
	force := !m.noForce.Load()
	// Links seen before this subscription may be gone: the listing it
	// asks for starts the table again.
	m.mu.Lock()
	m.links = map[int]linkInfo{}
	m.lost = true
	m.mu.Unlock()
	s, err := subscribe(m.ns, m.rcvbuf, force)
	if err != nil {
		if force && errors.Is(err, unix.EPERM) {
			// SO_RCVBUFFORCE needs CAP_NET_ADMIN, which a real agent has.
			slog.Warn("netlink: cannot force the receive buffer size (no CAP_NET_ADMIN); net.core.rmem_max caps it, so bursts of events may overflow it", "bytes", m.rcvbuf)
			m.noForce.Store(true)
		}
		if ctx.Err() == nil {
			slog.Warn("netlink subscription error", "err", fmt.Errorf("subscribing to link, address and route events: %w", err))
		}
		return false
	}
	defer s.close()
	// A Take since the flag was set above may have come before the socket
	// listened: what changed in between has no event, so the next pass
	// still reads everything.
	m.mu.Lock()
	m.lost = true
	m.mu.Unlock()
	// Closing the socket ends a receive blocked in it.
	defer context.AfterFunc(ctx, s.close)()
	m.signal()
	for {
		b, err := s.receive()
		if err != nil {
			// ENOBUFS (the kernel dropped events), a truncated datagram,
			// or the socket closed with ctx: subscribe again, or stop.
			if ctx.Err() == nil {
				slog.Warn("netlink subscription error", "err", fmt.Errorf("receiving: %w", err))
			}
			return true
		}
		m.onDatagram(b)
	}
}

// onDatagram serves the messages of one datagram.
func (m *Monitor) onDatagram(b []byte) {
	it := messages{b}
	for {
		msg, ok, err := it.next()
		if err != nil {
			m.unreadable(err)
			return
		}
		if !ok {
			return
		}
		if msg.flags&unix.NLM_F_DUMP_INTR != 0 {
			// Links changed during the listing; their events follow it.
			slog.Warn("netlink subscription error", "err", "the link listing was interrupted by a change")
		}
		switch msg.typ {
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			l, err := parseLink(msg.typ, msg.data)
			if err != nil {
				m.unreadable(err)
				continue
			}
			// A reply to the listing (NLM_F_MULTI, which no notification
			// has) is not a change: the Take after a subscription says
			// "all" anyway, and a change during the listing has its own
			// event.
			m.onLink(l, msg.flags&unix.NLM_F_MULTI == 0)
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			index, err := parseAddr(msg.data)
			if err != nil {
				m.unreadable(err)
				continue
			}
			m.onIndex(index)
		case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
			r, err := parseRoute(msg.data, m.hops)
			if err != nil {
				m.unreadable(err)
				continue
			}
			m.hops = r.hops
			m.onRoute(r)
		case unix.NLMSG_ERROR:
			if len(msg.data) >= 4 {
				if e := int32(binary.NativeEndian.Uint32(msg.data[:4])); e != 0 {
					slog.Warn("netlink subscription error", "err", fmt.Errorf("error message: %w", syscall.Errno(-e)))
				}
			}
		}
	}
}

// unreadable handles a message the kernel sent that cannot be decoded: it
// may have been about any link, so the next pass reads them all.
func (m *Monitor) unreadable(err error) {
	slog.Warn("netlink: an event could not be decoded; the next pass reads every link", "err", err)
	m.mu.Lock()
	m.lost = true
	m.mu.Unlock()
	m.signal()
}

// onLink keeps the table of links and counts the event; changed says it
// names the link for the next Take.
func (m *Monitor) onLink(l linkMsg, changed bool) {
	m.mu.Lock()
	if changed {
		m.touchLocked(l.index)
	}
	old, known := m.links[l.index]
	// An event about a known link mostly repeats its name: keep the
	// string rather than allocate another.
	name := old.name
	if !known || string(l.name) != name {
		name = string(l.name)
	}
	info := linkInfo{name: name, kind: l.kind}
	switch {
	case l.family == unix.AF_BRIDGE:
		// A bridge port notification: it carries no link kind (a VM's
		// veth would read as a physical "device"), and its delete means
		// the port left a bridge, not that the link is gone.
		info.kind = old.kind // "" when unknown: only its name can match
	case l.typ == unix.RTM_DELLINK:
		delete(m.links, l.index)
	default:
		m.links[l.index] = info
	}
	m.mu.Unlock()
	// A rename or a deletion matters if the old name did.
	m.count(m.filter(info.name, info.kind) || (known && m.filter(old.name, old.kind)))
}

// onRoute counts a route event for its device, or for each hop's.
func (m *Monitor) onRoute(r routeMsg) {
	if len(r.hops) == 0 {
		m.onIndex(r.index)
		return
	}
	relevant := false
	for _, idx := range r.hops {
		m.mu.Lock()
		m.touchLocked(idx)
		info, known := m.links[idx]
		m.mu.Unlock()
		relevant = relevant || !known || m.filter(info.name, info.kind)
	}
	m.count(relevant)
}

func (m *Monitor) onIndex(index int) {
	m.mu.Lock()
	m.touchLocked(index)
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
