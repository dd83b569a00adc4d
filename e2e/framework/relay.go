package framework

import (
	"io"
	"net"
	"sync"

	"github.com/containernetworking/plugins/pkg/ns"
)

// Relay listens on 127.0.0.1:<port> inside a namespace and forwards each
// connection to an address on the host's loopback. The listening socket is
// opened inside the namespace and stays there; the dials happen on the
// host side, so nothing but loopback ever carries the traffic.
type Relay struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	open map[net.Conn]bool
}

// NewRelay starts a relay from nsPath's 127.0.0.1:listenPort to hostAddr.
func NewRelay(nsPath string, listenPort string, hostAddr string) (*Relay, error) {
	r := &Relay{open: map[net.Conn]bool{}}
	err := ns.WithNetNSPath(nsPath, func(ns.NetNS) error {
		var err error
		r.ln, err = net.Listen("tcp", "127.0.0.1:"+listenPort)
		return err
	})
	if err != nil {
		return nil, err
	}
	r.wg.Add(1)
	go r.accept(hostAddr)
	return r, nil
}

func (r *Relay) accept(hostAddr string) {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.pipe(c, hostAddr)
		}()
	}
}

func (r *Relay) pipe(c net.Conn, hostAddr string) {
	up, err := net.Dial("tcp", hostAddr)
	if err != nil {
		c.Close()
		return
	}
	r.track(c, up)
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
	r.untrack(c, up)
}

func (r *Relay) track(cs ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		r.open[c] = true
	}
}

func (r *Relay) untrack(cs ...net.Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(r.open, c)
	}
}

// Close stops listening and cuts every relayed connection.
func (r *Relay) Close() {
	r.ln.Close()
	r.mu.Lock()
	for c := range r.open {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
