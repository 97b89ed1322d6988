package webhook

import (
	"container/list"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
)

// connKey carries a request's trackedConn in its context.
type connKey struct{}

// connLimiter caps the open connections of a listener. At the cap, a new
// connection evicts the oldest one that has never carried a complete request
// (idle sockets, TLS handshakes that never finish, slowloris headers): those
// cost memory and give nothing, while the API server's connections complete
// a request within milliseconds of connecting. When every open connection has
// been served, the new one is closed instead.
type connLimiter struct {
	net.Listener
	max int

	mu    sync.Mutex
	conns list.List // of *trackedConn, oldest first
}

func newConnLimiter(l net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: l, max: max}
}

// trackedConn is one accepted connection.
type trackedConn struct {
	net.Conn
	owner  *connLimiter
	elem   *list.Element
	served atomic.Bool // a complete request was read from it
	once   sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.owner.mu.Lock()
		c.owner.conns.Remove(c.elem)
		c.owner.mu.Unlock()
	})
	return c.Conn.Close()
}

// Accept implements net.Listener.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		var evict *trackedConn
		if l.conns.Len() >= l.max {
			for e := l.conns.Front(); e != nil; e = e.Next() {
				if c := e.Value.(*trackedConn); !c.served.Load() {
					evict = c
					break
				}
			}
			if evict == nil {
				l.mu.Unlock()
				_ = conn.Close()
				continue
			}
		}
		tc := &trackedConn{Conn: conn, owner: l}
		tc.elem = l.conns.PushBack(tc)
		l.mu.Unlock()
		if evict != nil {
			_ = evict.Close()
		}
		return tc, nil
	}
}

// open is the number of connections held.
func (l *connLimiter) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns.Len()
}

// newDebugLogger routes net/http's server log (TLS handshake errors, mostly
// from scanners, probes and hostile clients) to the logger at debug level.
func newDebugLogger(l logr.Logger) *log.Logger {
	return log.New(logWriter{l.V(1)}, "", 0)
}

type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info("http server", "message", strings.TrimSpace(string(p)))
	return len(p), nil
}
