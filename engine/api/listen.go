package api

import (
	"net"
	"sync"
)

// LimitListener returns a listener that holds at most n connections open
// at once, and at most perClient of them from one IP address (0: no
// per-client limit). Past n, Accept waits until one closes, so the
// connections (and what each may hold before authentication) bound the
// server's memory; the kernel's backlog queues the clients that wait. A
// connection past perClient is closed at once, so that one client cannot
// take every slot (with slow bodies, say) and starve the others.
func LimitListener(l net.Listener, n, perClient int) net.Listener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{}),
		perClient: perClient, clients: map[string]int{}}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once

	perClient int
	mu        sync.Mutex
	clients   map[string]int // open connections per IP address
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		select {
		case l.sem <- struct{}{}:
		case <-l.done:
			return nil, net.ErrClosed
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.sem
			return nil, err
		}
		ip := remoteIP(c)
		l.mu.Lock()
		if l.perClient > 0 && l.clients[ip] >= l.perClient {
			l.mu.Unlock()
			c.Close()
			<-l.sem
			continue
		}
		l.clients[ip]++
		l.mu.Unlock()
		return &limitConn{Conn: c, release: func() {
			l.mu.Lock()
			if l.clients[ip]--; l.clients[ip] == 0 {
				delete(l.clients, ip)
			}
			l.mu.Unlock()
			<-l.sem
		}}, nil
	}
}

func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

func remoteIP(c net.Conn) string {
	if tcp, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return tcp.IP.String()
	}
	return c.RemoteAddr().String()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
