package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/daemonguard/daemonguard/internal/kube"
	"github.com/daemonguard/daemonguard/webhook/metricsauth"
)

// part is one piece of serve that runs until its context ends: a server,
// an informer, a loop. An error from any part stops them all.
type part struct {
	name string
	run  func(context.Context) error
}

// runParts runs every part until ctx ends or one fails, then waits at most
// grace for all of them to return. It returns the first failure.
func runParts(ctx context.Context, grace time.Duration, log logr.Logger, parts []part) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = err
		}
	}
	for _, p := range parts {
		wg.Go(func() {
			if err := p.run(ctx); err != nil {
				fail(fmt.Errorf("%s: %w", p.name, err))
				cancel()
			}
		})
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(grace):
		fail(fmt.Errorf("not everything stopped within %v", grace))
	}
	mu.Lock()
	defer mu.Unlock()
	return first
}

// checker is a health or readiness check: nil when it passes.
type checker func(*http.Request) error

// probes serve /healthz and /readyz as controller-runtime's healthz handler
// does: 200 "ok" when every check passes, 500 listing the failures
// otherwise, and /readyz/NAME for one check.
type probes struct {
	mu     sync.Mutex
	checks map[string]map[string]checker // "healthz" or "readyz" -> name -> check
}

func newProbes() *probes {
	return &probes{checks: map[string]map[string]checker{"healthz": {}, "readyz": {}}}
}

func (p *probes) healthz(name string, c checker) { p.add("healthz", name, c) }
func (p *probes) readyz(name string, c checker)  { p.add("readyz", name, c) }

func (p *probes) add(kind, name string, c checker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.checks[kind][name] = c
}

func (p *probes) handler() http.Handler {
	mux := http.NewServeMux()
	for _, kind := range []string{"healthz", "readyz"} {
		serve := func(w http.ResponseWriter, r *http.Request) { p.serve(w, r, kind) }
		mux.HandleFunc("/"+kind, serve)
		mux.HandleFunc("/"+kind+"/", serve)
	}
	return mux
}

func (p *probes) serve(w http.ResponseWriter, r *http.Request, kind string) {
	p.mu.Lock()
	checks := make(map[string]checker, len(p.checks[kind]))
	for n, c := range p.checks[kind] {
		checks[n] = c
	}
	p.mu.Unlock()
	if one := strings.Trim(strings.TrimPrefix(r.URL.Path, "/"+kind), "/"); one != "" {
		c, ok := checks[one]
		if !ok {
			http.NotFound(w, r)
			return
		}
		checks = map[string]checker{one: c}
	}
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	var report strings.Builder
	failed := false
	for _, n := range names {
		if err := checks[n](r); err != nil {
			failed = true
			fmt.Fprintf(&report, "[-]%s failed: %v\n", n, err)
		} else {
			fmt.Fprintf(&report, "[+]%s ok\n", n)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if failed {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "%s%s check failed\n", report.String(), kind)
		return
	}
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		fmt.Fprintf(w, "%s%s check passed\n", report.String(), kind)
		return
	}
	fmt.Fprint(w, "ok")
}

// sideServers are the metrics, probe and pprof servers, each only when its
// address is set (and not "0").
func sideServers(cs *kube.Clientset, opts Options, registry prometheus.Registerer, p *probes,
	tlsOpts []func(*tls.Config), log logr.Logger) ([]part, error) {
	var parts []part
	if on(opts.MetricsAddr) {
		gatherer, ok := registry.(prometheus.Gatherer)
		if !ok {
			return nil, errors.New("the metrics registry must also gather, to be served")
		}
		var h http.Handler = promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
		var tlsCfg *tls.Config
		if opts.MetricsSecure {
			reviewer, err := metricsauth.New(cs)
			if err != nil {
				return nil, err
			}
			h = reviewer.Guard(log.WithName("metrics"), h)
			tlsCfg = &tls.Config{NextProtos: []string{"h2", "http/1.1"}}
			for _, o := range tlsOpts {
				o(tlsCfg)
			}
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", h)
		parts = append(parts, part{"metrics server", sideServer(opts.MetricsAddr, mux, tlsCfg, log.WithName("metrics"))})
	}
	if on(opts.HealthAddr) {
		parts = append(parts, part{"health probe server", sideServer(opts.HealthAddr, p.handler(), nil, log.WithName("probes"))})
	}
	if on(opts.PprofAddr) {
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		parts = append(parts, part{"pprof server", sideServer(opts.PprofAddr, mux, nil, log.WithName("pprof"))})
	}
	return parts, nil
}

func on(addr string) bool { return addr != "" && addr != "0" }

// sideServer serves h at addr (TLS when tlsCfg is set) until ctx ends.
func sideServer(addr string, h http.Handler, tlsCfg *tls.Config, log logr.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 32 * time.Second, ErrorLog: newDebugLogger(log)}
		log.Info("serving", "address", ln.Addr().String(), "tls", tlsCfg != nil)
		go func() {
			<-ctx.Done()
			shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shut)
		}()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
