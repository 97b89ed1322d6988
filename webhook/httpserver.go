package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/semaphore"
)

// Limits bound what one client can make the webhook server hold: the API
// server's reviews are small, complete and sent at once, so anything slower,
// larger or more numerous is cut off long before it costs memory or starves
// the API server's own calls. A zero field takes its default.
type Limits struct {
	// ReadHeaderTimeout bounds the TLS handshake and the request headers
	// (slowloris). Go's server also uses the smallest of the read and write
	// timeouts as the TLS handshake deadline.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end of
	// the response; at least the largest webhook timeoutSeconds (30s).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection unused this long. It is
	// longer than the API server's own idle timeout (90s), so the client,
	// not the server, closes an idle connection: a server-side close can
	// race a request the client is just sending, which then fails.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers.
	MaxHeaderBytes int
	// MaxRequestBytes bounds a review body, refused by its Content-Length
	// before any of it is read; a body without Content-Length is refused
	// (the API server always sends one).
	MaxRequestBytes int64
	// MaxInFlightBodyBytes bounds the declared bytes of the review bodies
	// being read and decoded at once, counting only bodies over
	// smallBodyBytes (the API server's usual reviews are a few KiB and never
	// wait). A body that finds no room within bodyWait is answered 503 with
	// Retry-After. Memory per body is about three times its size (buffer
	// growth and decoding), so this is what keeps a flood of maximum-size
	// bodies from growing the process.
	MaxInFlightBodyBytes int64
	// MaxConnections bounds open connections. When it is reached, a new
	// connection displaces the oldest one that has not yet sent a complete
	// request (an idle or slowloris client), so the API server's fresh
	// connections still get in; if every connection has been served, the
	// new one is refused.
	MaxConnections int
	// DrainTimeout bounds waiting for in-flight reviews when the server stops.
	DrainTimeout time.Duration
}

// DefaultLimits are the serve flags' defaults.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		MaxRequestBytes:   DefaultMaxRequestBytes,
		// One maximum-size review at a time, or several ordinary large ones.
		MaxInFlightBodyBytes: 8 << 20,
		MaxConnections:       2048,
		DrainTimeout:         10 * time.Second,
	}
}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	set(&l.ReadTimeout, d.ReadTimeout)
	set(&l.WriteTimeout, d.WriteTimeout)
	set(&l.IdleTimeout, d.IdleTimeout)
	set(&l.DrainTimeout, d.DrainTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxRequestBytes <= 0 {
		l.MaxRequestBytes = d.MaxRequestBytes
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = d.MaxConnections
	}
	if l.MaxInFlightBodyBytes <= 0 {
		l.MaxInFlightBodyBytes = d.MaxInFlightBodyBytes
	}
	return l
}

// Validate reports limits that cannot work.
func (l Limits) Validate() error {
	switch {
	case l.ReadHeaderTimeout < 0 || l.ReadTimeout < 0 || l.WriteTimeout < 0 || l.IdleTimeout < 0 || l.DrainTimeout < 0:
		return errors.New("server timeouts must not be negative")
	case l.MaxHeaderBytes < 0 || l.MaxRequestBytes < 0 || l.MaxConnections < 0 || l.MaxInFlightBodyBytes < 0:
		return errors.New("server size and connection limits must not be negative")
	}
	return nil
}

// server is the HTTPS webhook server, with every limit set explicitly
// (controller-runtime's own server fixes them: 1 MiB headers, 32s header
// timeout, no read timeout, no cap on connections or bodies), and with
// connections told to close while the process is shutting down.
type server struct {
	host    string
	port    int
	tlsOpts []func(*tls.Config)
	limits  Limits
	log     logr.Logger
	// closing is set once the process has been asked to stop: responses then
	// carry Connection: close, so the API server reconnects elsewhere.
	closing *atomic.Bool

	mux     *http.ServeMux
	bodies  *semaphore.Weighted
	mu      sync.Mutex
	started bool
	addr    string
}

func newServer(host string, port int, tlsOpts []func(*tls.Config), limits Limits, closing *atomic.Bool, log logr.Logger) *server {
	limits = limits.withDefaults()
	return &server{host: host, port: port, tlsOpts: tlsOpts, limits: limits, closing: closing, log: log, mux: http.NewServeMux(),
		bodies: semaphore.NewWeighted(limits.MaxInFlightBodyBytes)}
}

// Register serves hook at path, behind the body limits.
func (s *server) Register(path string, hook http.Handler) {
	s.mux.Handle(path, limitBody(hook, s.limits.MaxRequestBytes, s.bodies, s.limits.MaxInFlightBodyBytes))
}

// Start serves until ctx ends, then stops accepting, lets in-flight reviews
// finish within DrainTimeout, and returns.
func (s *server) Start(ctx context.Context) error {
	cfg := &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
	for _, op := range s.tlsOpts {
		op(cfg)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(s.host, strconv.Itoa(s.port)))
	if err != nil {
		return err
	}
	limited := newConnLimiter(ln, s.limits.MaxConnections)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if c, ok := r.Context().Value(connKey{}).(*trackedConn); ok {
				c.served.Store(true)
			}
			if s.closing != nil && s.closing.Load() {
				w.Header().Set("Connection", "close")
			}
			s.mux.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: s.limits.ReadHeaderTimeout,
		ReadTimeout:       s.limits.ReadTimeout,
		WriteTimeout:      s.limits.WriteTimeout,
		IdleTimeout:       s.limits.IdleTimeout,
		MaxHeaderBytes:    s.limits.MaxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				if t, ok := tc.NetConn().(*trackedConn); ok {
					return context.WithValue(ctx, connKey{}, t)
				}
			}
			return ctx
		},
		// net/http logs every refused handshake (port scans, the health
		// check's own dial); keep them at debug level.
		ErrorLog: newDebugLogger(s.log),
	}
	if !containsProto(cfg.NextProtos, "h2") {
		// An explicit empty map turns off HTTP/2 even if a client asks.
		srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	s.mu.Lock()
	s.started, s.addr = true, ln.Addr().String()
	s.mu.Unlock()
	s.log.Info("serving webhooks", "address", s.addr, "limits", fmt.Sprintf("%+v", s.limits))

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		drain, cancel := context.WithTimeout(context.Background(), s.limits.DrainTimeout)
		defer cancel()
		start := time.Now()
		if err := srv.Shutdown(drain); err != nil {
			s.log.Error(err, "in-flight reviews did not finish; closing their connections", "drainTimeout", s.limits.DrainTimeout)
			_ = srv.Close()
			return
		}
		s.log.Info("webhook server drained", "took", time.Since(start).Round(time.Millisecond))
	}()
	err = srv.Serve(tls.NewListener(limited, cfg))
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	<-stopped
	return err
}

// StartedChecker passes once the listener accepts TLS connections.
func (s *server) StartedChecker() checker {
	return func(*http.Request) error {
		s.mu.Lock()
		started, addr := s.started, s.addr
		s.mu.Unlock()
		if !started {
			return errors.New("webhook server has not been started yet")
		}
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a reachability check, not trust
		if err != nil {
			return fmt.Errorf("webhook server is not reachable: %w", err)
		}
		return conn.Close()
	}
}

func containsProto(protos []string, p string) bool {
	for _, x := range protos {
		if x == p {
			return true
		}
	}
	return false
}

// smallBodyBytes is the size under which a body does not count against
// Limits.MaxInFlightBodyBytes: the API server's reviews of ordinary
// DaemonSets are a few KiB.
const smallBodyBytes = 64 << 10

// bodyWait is how long a large body waits for room among the bodies in flight.
const bodyWait = 2 * time.Second

// limitBody refuses a body the API server would never send before reading
// any of it: one over max bytes (413) or of unknown length (411); and holds
// large bodies to a budget of bytes in flight (503 with Retry-After when
// there is no room).
func limitBody(next http.Handler, max int64, inFlight *semaphore.Weighted, budget int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.ContentLength > max:
			w.Header().Set("Connection", "close")
			http.Error(w, fmt.Sprintf("admission review exceeds %d bytes", max), http.StatusRequestEntityTooLarge)
			return
		case r.ContentLength < 0:
			w.Header().Set("Connection", "close")
			http.Error(w, "an admission review needs a Content-Length", http.StatusLengthRequired)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, r.ContentLength)
		if n := min(r.ContentLength, budget); inFlight != nil && n > smallBodyBytes {
			ctx, cancel := context.WithTimeout(r.Context(), bodyWait)
			err := inFlight.Acquire(ctx, n)
			cancel()
			if err != nil {
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Connection", "close")
				http.Error(w, "too many large admission reviews in flight; retry", http.StatusServiceUnavailable)
				return
			}
			defer inFlight.Release(n)
		}
		next.ServeHTTP(w, r)
	})
}
