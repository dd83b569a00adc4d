package monitor

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// socket is one rtnetlink subscription to link, address and route events
// in a namespace, read by the monitor's own goroutine. One socket, not
// netlink's three Subscribe helpers: those decode every message whole on
// a goroutine each and copy every datagram twice, and the monitor needs a
// few fields of each (see parse.go). On one socket the events also arrive
// in the kernel's order: an address is never seen before its link.
type socket struct {
	f    *os.File
	conn syscall.RawConn
	buf  []byte
	// The receive's results, set by read (a method value made once, so
	// that a receive does not allocate a closure).
	readFn func(fd uintptr) bool
	n      int
	flags  int
	from   unix.Sockaddr
	err    error
}

// groups are the multicast groups the monitor listens to.
var groups = []uint{unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR, unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE}

// receiveSize is the largest datagram read at once: the size netlink's
// own Receive uses, and more than the kernel puts in a dump's datagram.
const receiveSize = 64 << 10

// subscribe opens the socket in ns (when open; else the caller's),
// with a receive buffer of rcvbuf bytes (forced past rmem_max when force),
// and asks for a listing of every link.
func subscribe(ns netns.NsHandle, rcvbuf int, force bool) (*socket, error) {
	s, err := nl.SubscribeAt(ns, netns.None(), unix.NETLINK_ROUTE, groups...)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	if rcvbuf != 0 {
		if err := s.SetReceiveBufferSize(rcvbuf, force); err != nil {
			return nil, fmt.Errorf("setting the receive buffer: %w", err)
		}
	}
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	if err := s.Send(req); err != nil {
		return nil, fmt.Errorf("asking for the links: %w", err)
	}
	// nl's socket hides its file, and a receive through it allocates a
	// copy of the datagram and of each message: keep a duplicate of its
	// descriptor (still non-blocking, so in Go's poller, which lets Close
	// end a blocked read) and close the original.
	fd, err := unix.FcntlInt(uintptr(s.GetFd()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicating the netlink socket: %w", err)
	}
	f := os.NewFile(uintptr(fd), "netlink")
	conn, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	so := &socket{f: f, conn: conn, buf: make([]byte, receiveSize)}
	so.readFn = so.read
	return so, nil
}

func (s *socket) read(fd uintptr) bool {
	s.n, _, s.flags, s.from, s.err = unix.Recvmsg(int(fd), s.buf, nil, 0)
	return s.err != unix.EAGAIN
}

// errTruncated says a datagram did not fit the buffer: its messages are
// lost.
var errTruncated = errors.New("netlink datagram truncated")

// receive returns the next datagram from the kernel, valid until the next
// receive. Datagrams from anyone else are skipped.
func (s *socket) receive() ([]byte, error) {
	for {
		if err := s.conn.Read(s.readFn); err != nil {
			return nil, err
		}
		if s.err != nil {
			return nil, s.err
		}
		if s.flags&unix.MSG_TRUNC != 0 {
			return nil, errTruncated
		}
		if from, ok := s.from.(*unix.SockaddrNetlink); !ok || from.Pid != nl.PidKernel {
			continue
		}
		return s.buf[:s.n], nil
	}
}

// close ends the subscription; a receive blocked on it returns an error.
func (s *socket) close() { s.f.Close() }
