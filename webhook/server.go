package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/daemonguard/daemonguard/certs"
	"github.com/daemonguard/daemonguard/internal/kube"
	"github.com/daemonguard/daemonguard/webhook/metricsauth"
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
		registry = ctrlmetrics.Registry
	}
	if err := registerRuntimeMetrics(registry); err != nil {
		return err
	}
	certMetrics, err := certs.NewMetrics(registry)
	if err != nil {
		return err
	}
	// The Watcher, not the webhook server's own certwatcher, serves CertDir:
	// the server may then start before the files exist.
	certWatcher := certs.NewWatcher(certs.WatcherOptions{
		CertFile: filepath.Join(opts.CertDir, opts.CertName), KeyFile: filepath.Join(opts.CertDir, opts.KeyName),
		Metrics: certMetrics, Log: log.WithName("certs"),
	})
	tlsOpts := tlsOptions(certWatcher, opts.EnableHTTP2)
	// The manager runs on its own context: when ctx ends, the webhook first
	// serves through the shutdown delay (closing is set), and only then are
	// the manager and its servers stopped.
	closing := &atomic.Bool{}
	mgrCtx, stopManager := context.WithCancel(context.WithoutCancel(ctx))
	defer stopManager()
	go stopAfterDelay(ctx, mgrCtx, stopManager, closing, opts.ShutdownDelay, limits.DrainTimeout, log)
	mgr, err := newManager(cfg, opts, limits, tlsOpts, closing, log)
	if err != nil {
		return err
	}
	metrics, err := NewMetrics(registry)
	if err != nil {
		return err
	}
	reads, err := watchCluster(mgrCtx, mgr, opts)
	if err != nil {
		return err
	}
	source, err := NewPolicySource(opts.PolicyFile, reads.policyOptions(opts.Namespace), metrics, log)
	if err != nil {
		return err
	}
	// The manager runs the webhook server only once it has been asked for it.
	server := mgr.GetWebhookServer()
	server.Register(MutatePath, NewMutatingHandler(source.Current, metrics, log))
	validating := NewValidatingHandler(source.Current, metrics, log)
	if opts.OwnerEvents.Enabled {
		validating.owners = newOwnerEvents(opts.OwnerEvents, mgr.GetClient(), scopeLookup(mgr.GetRESTMapper()), metrics, log.WithName("owner-events"))
		if err := mgr.Add(validating.owners); err != nil {
			return err
		}
	}
	server.Register(ValidatePath, validating)
	if err := addReadiness(mgr, readiness{
		server: server.StartedChecker(), classes: reads.classes, nodes: reads.nodes, certificate: certWatcher.Checker, closing: closing,
	}); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.Add(certWatcher); err != nil {
		return err
	}
	if mode == certs.ModeSelfManaged {
		selfManaged.FilesWritten = func() { certWatcher.Reload() }
		cs, err := kube.NewForConfig(cfg)
		if err != nil {
			return err
		}
		rotator, err := certs.NewRotator(cs, selfManaged, log.WithName("certs"))
		if err != nil {
			return err
		}
		if err := mgr.Add(rotator); err != nil {
			return err
		}
	}
	if err := mgr.Add(everyReplica(func(ctx context.Context) error {
		source.Watch(ctx, opts.PolicyPollInterval)
		return nil
	})); err != nil {
		return err
	}
	if err := addConfigurationKeepers(mgr, opts, source, metrics, log); err != nil {
		return err
	}
	if err := addReporter(mgr, cfg, opts, source, registry, log); err != nil {
		return err
	}
	log.Info("starting", "port", opts.Port, "certDir", opts.CertDir, "certificates", mode, "policy", opts.PolicyFile, "namespace", opts.Namespace,
		"metricsSecure", opts.MetricsSecure, "shutdownDelay", opts.ShutdownDelay)
	return mgr.Start(mgrCtx)
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
// responses close their connections) and stops the manager delay later.
func stopAfterDelay(ctx, mgrCtx context.Context, stop context.CancelFunc, closing *atomic.Bool, delay, drain time.Duration, log logr.Logger) {
	select {
	case <-ctx.Done():
	case <-mgrCtx.Done():
		return
	}
	closing.Store(true)
	log.Info("shutting down: not ready, asking clients to reconnect elsewhere", "shutdownDelay", delay, "drainTimeout", drain)
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-mgrCtx.Done():
	}
	stop()
}

// newManager is the controller-runtime manager serving the webhooks, the
// metrics and the probes, with a cache of what the webhook reads.
func newManager(cfg *rest.Config, opts Options, limits Limits,
	tlsOpts []func(*tls.Config), closing *atomic.Bool, log logr.Logger) (manager.Manager, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{schedulingv1.AddToScheme, corev1.AddToScheme, admissionregistrationv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	// daemonguard reads PriorityClasses and, for the node-aware rules,
	// Nodes. (The self-managed certificates' Rotator watches its Secret and
	// webhook configurations with informers of its own.)
	byObject := map[client.Object]cache.ByObject{&schedulingv1.PriorityClass{}: {}}
	if opts.NodeChecks {
		byObject[&corev1.Node{}] = cache.ByObject{Transform: slimNode}
	}
	metricsOpts := metricsserver.Options{BindAddress: opts.MetricsAddr}
	if opts.MetricsSecure {
		metricsOpts.SecureServing = true
		metricsOpts.FilterProvider = metricsauth.Filter
		metricsOpts.TLSOpts = tlsOpts
	}
	// The manager's own bound on stopping: the drain plus room for the
	// informers and the health server.
	graceful := limits.DrainTimeout + 5*time.Second
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  opts.HealthAddr,
		PprofBindAddress:        opts.PprofAddr,
		WebhookServer:           newServer(opts.Host, opts.Port, tlsOpts, limits, closing, log.WithName("server")),
		Cache:                   cache.Options{ByObject: byObject},
		GracefulShutdownTimeout: &graceful,
		// Only the Reporter needs a leader; the webhook server, the
		// certificate watcher and rotator and the policy reload run on
		// every replica (NeedLeaderElection false).
		LeaderElection:                opts.Reports.Enabled,
		LeaderElectionID:              "daemonguard-reports",
		LeaderElectionNamespace:       opts.Namespace,
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		return nil, fmt.Errorf("creating manager: %w", err)
	}
	return mgr, nil
}

// everyReplica is a runnable that runs whether or not this replica leads:
// a bare manager.RunnableFunc would wait for leadership.
type everyReplica func(context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }
func (everyReplica) NeedLeaderElection() bool          { return false }

// scopeLookup asks the RESTMapper (discovery) whether a kind is namespaced.
func scopeLookup(m meta.RESTMapper) ScopeLookup {
	return func(gk schema.GroupKind, version string) (bool, error) {
		mapping, err := m.RESTMapping(gk, version)
		if err != nil {
			return false, err
		}
		return mapping.Scope.Name() == meta.RESTScopeNameNamespace, nil
	}
}
