package probe

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/mdlayher/arp"
	"github.com/mdlayher/ndp"
	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// defaultTimeout bounds a probe whose context has no deadline.
const defaultTimeout = time.Second

// Runner runs probes from one network namespace. Sockets belong to the
// namespace they were created in, so only their creation (and the route
// and interface lookups) switch namespaces; the waiting happens outside.
type Runner struct {
	ns ns.NetNS // nil: the caller's namespace
	// api checks the API server through the agent's own client; nil when
	// the agent has none (tests without an API server).
	api func(context.Context) error
}

// NewRunner returns a runner for the namespace at nsPath ("" for the
// caller's). api checks the API server; nil fails the API probe.
func NewRunner(nsPath string, api func(context.Context) error) (*Runner, error) {
	r := &Runner{api: api}
	if nsPath != "" {
		n, err := ns.GetNS(nsPath)
		if err != nil {
			return nil, err
		}
		r.ns = n
	}
	return r, nil
}

// Close releases the namespace.
func (r *Runner) Close() {
	if r.ns != nil {
		r.ns.Close()
	}
}

func (r *Runner) in(f func() error) error {
	if r.ns == nil {
		return f()
	}
	return r.ns.Do(func(ns.NetNS) error { return f() })
}

// Probe runs p; nil means it passed.
func (r *Runner) Probe(ctx context.Context, p Probe) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	switch p.Kind {
	case API:
		if r.api == nil {
			return errors.New("the agent has no API client")
		}
		return r.api(ctx)
	case TCP:
		return r.tcp(ctx, p.Target)
	}
	addr, err := netip.ParseAddr(p.Target)
	if err != nil {
		return err
	}
	switch p.Kind {
	case ARP:
		return r.arp(ctx, addr)
	case NDP:
		return r.ndp(ctx, addr)
	case ICMP:
		return r.echo(ctx, addr)
	}
	return fmt.Errorf("unknown probe kind %q", p.Kind)
}

// via is the interface the kernel sends to addr through now.
func via(addr netip.Addr) (*net.Interface, error) {
	routes, err := netlink.RouteGet(addr.AsSlice())
	if err != nil {
		return nil, fmt.Errorf("no route to %s: %w", addr, err)
	}
	if len(routes) == 0 || routes[0].LinkIndex == 0 {
		return nil, fmt.Errorf("no route to %s", addr)
	}
	return net.InterfaceByIndex(routes[0].LinkIndex)
}

func (r *Runner) arp(ctx context.Context, gw netip.Addr) error {
	var c *arp.Client
	err := r.in(func() error {
		ifi, err := via(gw)
		if err != nil {
			return err
		}
		c, err = arp.Dial(ifi)
		return err
	})
	if err != nil {
		return fmt.Errorf("arp: %w", err)
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	if err := c.SetDeadline(dl); err != nil {
		return err
	}
	if _, err := c.Resolve(gw); err != nil {
		return fmt.Errorf("no ARP reply from %s: %w", gw, err)
	}
	return nil
}

func (r *Runner) ndp(ctx context.Context, gw netip.Addr) error {
	var (
		c   *ndp.Conn
		ifi *net.Interface
	)
	err := r.in(func() error {
		var err error
		if ifi, err = via(gw); err != nil {
			return err
		}
		// The address's zone by index, not name: Go resolves zone names
		// through a process-wide cache of the agent's own namespace's
		// interfaces, where this name may be another link or none.
		byIndex := *ifi
		byIndex.Name = strconv.Itoa(ifi.Index)
		c, _, err = ndp.Listen(&byIndex, ndp.LinkLocal)
		if err != nil {
			// A link-local address still tentative (a bridge that just
			// came up): let the kernel pick the source.
			c, _, err = ndp.Listen(&byIndex, ndp.Unspecified)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("ndp: %w", err)
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	if err := c.SetDeadline(dl); err != nil {
		return err
	}
	snm, err := ndp.SolicitedNodeMulticast(gw)
	if err != nil {
		return err
	}
	ns := &ndp.NeighborSolicitation{TargetAddress: gw, Options: []ndp.Option{
		&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr},
	}}
	if err := c.WriteTo(ns, nil, snm); err != nil {
		return fmt.Errorf("ndp: sending a solicitation for %s: %w", gw, err)
	}
	for {
		m, _, _, err := c.ReadFrom()
		if err != nil {
			return fmt.Errorf("no neighbour advertisement from %s: %w", gw, err)
		}
		if na, ok := m.(*ndp.NeighborAdvertisement); ok && na.TargetAddress == gw {
			return nil
		}
	}
}

// echo sends one ICMP echo request and waits for its reply. Raw sockets
// see every ICMP packet of the namespace, so a reply counts only with this
// probe's random identifier and sequence, from the target.
func (r *Runner) echo(ctx context.Context, dst netip.Addr) error {
	network, proto, typ, reply := "ip4:icmp", 1, icmp.Type(ipv4.ICMPTypeEcho), icmp.Type(ipv4.ICMPTypeEchoReply)
	if dst.Is6() {
		network, proto, typ, reply = "ip6:ipv6-icmp", 58, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	var c *icmp.PacketConn
	if err := r.in(func() (err error) { c, err = icmp.ListenPacket(network, ""); return err }); err != nil {
		return fmt.Errorf("icmp: %w", err)
	}
	defer c.Close()
	dl, _ := ctx.Deadline()
	if err := c.SetDeadline(dl); err != nil {
		return err
	}
	var idb [4]byte
	_, _ = rand.Read(idb[:])
	id, seq := int(binary.BigEndian.Uint16(idb[:2])), int(binary.BigEndian.Uint16(idb[2:]))
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("harvnet probe")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(b, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		return fmt.Errorf("icmp echo to %s: %w", dst, err)
	}
	buf := make([]byte, 1500)
	for {
		n, peer, err := c.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("no ICMP echo reply from %s: %w", dst, err)
		}
		from, ok := peer.(*net.IPAddr)
		if !ok {
			continue
		}
		if a, _ := netip.AddrFromSlice(from.IP); a.Unmap() != dst {
			continue
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil || m.Type != reply {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq == seq {
			return nil
		}
	}
}

func (r *Runner) tcp(ctx context.Context, target string) error {
	return r.in(func() error {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", target)
		if err != nil {
			return fmt.Errorf("tcp connect to %s: %w", target, err)
		}
		return conn.Close()
	})
}
