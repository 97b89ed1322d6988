package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/daemonguard/daemonguard/certs"
	"github.com/daemonguard/daemonguard/internal/kube"
)

// Run serves both webhooks against the cluster at cfg until ctx ends, then
// shuts down gracefully: not ready and closing connections for
// opts.ShutdownDelay, then draining in-flight reviews.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	log := logf.Log.WithName("daemonguard")
	if err := opts.Limits.Validate(); err != nil {
		return err
	}
	if opts.ShutdownDelay < 0 {
		return errors.New("the shutdown delay must not be negative")
	}
	limits := opts.Limits.withDefaults()
	mode, err := certs.ParseMode(string(opts.Certificates))
	if err != nil {
		return err
	}
	selfManaged, err := selfManagedOptions(opts, mode)
	if err != nil {
		return err
	}
	registry := opts.MetricsRegistry
	if registry == nil {
		registry = prometheus.NewRegistry()
	}
	if err := registerRuntimeMetrics(registry); err != nil {
		return err
	}
	certMetrics, err := certs.NewMetrics(registry)
	if err != nil {
		return err
	}
	cs, err := kube.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("API server client: %w", err)
	}
	// The Watcher serves CertDir: the server may then start before the
	// files exist.
	certWatcher := certs.NewWatcher(certs.WatcherOptions{
		CertFile: filepath.Join(opts.CertDir, opts.CertName), KeyFile: filepath.Join(opts.CertDir, opts.KeyName),
		Metrics: certMetrics, Log: log.WithName("certs"),
	})
	tlsOpts := tlsOptions(certWatcher, opts.EnableHTTP2)
	// Everything runs on its own context: when ctx ends, the webhook first
	// serves through the shutdown delay (closing is set), and only then is
	// the rest stopped.
	closing := &atomic.Bool{}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	go stopAfterDelay(ctx, runCtx, stop, closing, opts.ShutdownDelay, limits.DrainTimeout, log)
	metrics, err := NewMetrics(registry)
	if err != nil {
		return err
	}
	reads, err := watchCluster(cs, opts)
	if err != nil {
		return err
	}
	source, err := NewPolicySource(opts.PolicyFile, reads.policyOptions(opts.Namespace), metrics, log)
	if err != nil {
		return err
	}
	hooks := newServer(opts.Host, opts.Port, tlsOpts, limits, closing, log.WithName("server"))
	hooks.Register(MutatePath, NewMutatingHandler(source.Current, metrics, log))
	validating := NewValidatingHandler(source.Current, metrics, log)
	parts := []part{
		{"webhook server", hooks.Start},
		{"certificate watcher", certWatcher.Start},
		{"policy reload", func(ctx context.Context) error { source.Watch(ctx, opts.PolicyPollInterval); return nil }},
	}
	parts = append(parts, reads.parts()...)
	if opts.OwnerEvents.Enabled {
		validating.owners = newOwnerEvents(opts.OwnerEvents, coreEvents(cs), scopeLookup(kube.NewDiscovery(cs)), metrics, log.WithName("owner-events"))
		parts = append(parts, part{"owner events", validating.owners.Start})
	}
	hooks.Register(ValidatePath, validating)
	probes := newProbes()
	probes.healthz("ping", func(*http.Request) error { return nil })
	readiness{server: hooks.StartedChecker(), classes: reads.classes, nodes: reads.nodes, certificate: certWatcher.Checker, closing: closing}.addTo(probes)
	if mode == certs.ModeSelfManaged {
		selfManaged.FilesWritten = func() { certWatcher.Reload() }
		rotator, err := certs.NewRotator(cs, selfManaged, log.WithName("certs"))
		if err != nil {
			return err
		}
		parts = append(parts, part{"certificate rotator", rotator.Start})
	}
	keepers, err := configurationKeepers(cs, opts, source, metrics, log)
	if err != nil {
		return err
	}
	parts = append(parts, keepers...)
	reporter, err := reporterPart(cs, cfg, opts, source, reads.synced, registry, log)
	if err != nil {
		return err
	}
	if reporter != nil {
		parts = append(parts, *reporter)
	}
	servers, err := sideServers(cs, opts, registry, probes, tlsOpts, log)
	if err != nil {
		return err
	}
	parts = append(parts, servers...)
	log.Info("starting", "port", opts.Port, "certDir", opts.CertDir, "certificates", mode, "policy", opts.PolicyFile, "namespace", opts.Namespace,
		"metricsSecure", opts.MetricsSecure, "shutdownDelay", opts.ShutdownDelay)
	// The bound on stopping: the drain plus room for the informers and the
	// side servers.
	return runParts(runCtx, limits.DrainTimeout+5*time.Second, log, parts)
}

// selfManagedOptions completes the self-managed rotator's options from the
// server's (its namespace and files default to the webhook's own).
func selfManagedOptions(opts Options, mode certs.Mode) (certs.RotatorOptions, error) {
	sm := opts.SelfManaged
	if mode != certs.ModeSelfManaged {
		return sm, nil
	}
	if sm.Namespace == "" {
		sm.Namespace = opts.Namespace
	}
	if sm.CertDir == "" {
		sm.CertDir, sm.CertName, sm.KeyName = opts.CertDir, opts.CertName, opts.KeyName
	}
	return sm, sm.Validate()
}

// tlsOptions serve the watched certificate, TLS 1.2 at least, and HTTP/1.1
// only unless HTTP/2 is asked for.
func tlsOptions(w *certs.Watcher, http2 bool) []func(*tls.Config) {
	opts := []func(*tls.Config){func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS12
		c.GetCertificate = w.GetCertificate
	}}
	if !http2 {
		opts = append(opts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	return opts
}

// stopAfterDelay waits for ctx to end, then sets closing (readiness fails,
// responses close their connections) and stops the rest delay later.
func stopAfterDelay(ctx, runCtx context.Context, stop context.CancelFunc, closing *atomic.Bool, delay, drain time.Duration, log logr.Logger) {
	select {
	case <-ctx.Done():
	case <-runCtx.Done():
		return
	}
	closing.Store(true)
	log.Info("shutting down: not ready, asking clients to reconnect elsewhere", "shutdownDelay", delay, "drainTimeout", drain)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-runCtx.Done():
	}
	stop()
}

// scopeLookup asks the API server's discovery whether a kind is namespaced.
func scopeLookup(d *kube.Discovery) ScopeLookup {
	return func(gk schema.GroupKind, version string) (bool, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return d.Namespaced(ctx, gk.WithVersion(version))
	}
}
