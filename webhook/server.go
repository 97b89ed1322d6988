package webhook

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/daemonguard/daemonguard/certs"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/mutators"
	"github.com/daemonguard/daemonguard/validators"
)

// Options configure the webhook server.
type Options struct {
	// NodeChecks watches Nodes for the node-aware rules (node-coverage,
	// matches-no-node, does-not-fit); off, those rules find nothing and the
	// webhook needs no access to Nodes.
	NodeChecks bool
	// Port and CertDir are the TLS listener and the directory holding
	// CertName and KeyName (reloaded when they change).
	Host              string
	Port              int
	CertDir           string
	CertName, KeyName string
	// Certificates is who writes CertDir: certs.ModeFiles (the default)
	// serves it as cert-manager or the user leave it; certs.ModeSelfManaged
	// makes the webhook its own CA, configured by SelfManaged (its
	// Namespace and file names default to the ones above). Either way the
	// webhook is not ready until a valid certificate is served.
	Certificates certs.Mode
	SelfManaged  certs.RotatorOptions
	// EnableHTTP2 turns HTTP/2 on; it is off by default because of the
	// HTTP/2 Rapid Reset and stream-cancellation CVEs.
	EnableHTTP2 bool
	// PolicyFile is the policy file, reloaded every PolicyPollInterval;
	// empty means the built-in defaults.
	PolicyFile         string
	PolicyPollInterval time.Duration
	// Namespace is the webhook's own namespace, always exempt.
	Namespace string
	// MetricsAddr serves /metrics ("0" disables); HealthAddr serves
	// /healthz and /readyz over plain HTTP for the kubelet.
	MetricsAddr string
	HealthAddr  string
	// MetricsSecure serves /metrics over HTTPS (the webhook's serving
	// certificate) to clients that authenticate with a bearer token the API
	// server accepts (TokenReview) and may get /metrics (SubjectAccessReview).
	// False serves plain, unauthenticated HTTP.
	MetricsSecure bool
	// Limits bound the webhook server's connections, requests and drain; zero
	// fields take DefaultLimits.
	Limits Limits
	// ShutdownDelay is how long the webhook keeps serving once ctx ends:
	// /readyz fails at once, every response asks the client to close its
	// connection, and only then does the server stop accepting and drain
	// (Limits.DrainTimeout). It covers the time endpoints take to drop the
	// pod and the API server's pooled connections to move elsewhere.
	ShutdownDelay time.Duration
	// MetricsRegistry receives daemonguard's own metrics; nil means
	// controller-runtime's metrics.Registry, which MetricsAddr serves. Tests
	// running several webhooks in one process give each its own.
	MetricsRegistry prometheus.Registerer
	// Reports turns on the OpenReports Reporter (see ReportsOptions).
	Reports ReportsOptions
	// MutatingConfiguration, when set, names the MutatingWebhookConfiguration
	// whose matchConditions the webhook keeps (get and update on it): equal
	// to the mutating condition of the policy in force, or with
	// MutatingAlways, without daemonguard's condition at all.
	MutatingConfiguration string
	MutatingAlways        bool
}

// Run serves both webhooks against the cluster at cfg until ctx ends, then
// shuts down gracefully: not ready and closing connections for
// opts.ShutdownDelay, then draining in-flight reviews.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	log := ctrl.Log.WithName("daemonguard")
	if err := opts.Limits.Validate(); err != nil {
		return err
	}
	if opts.ShutdownDelay < 0 {
		return errors.New("the shutdown delay must not be negative")
	}
	limits := opts.Limits.withDefaults()
	scheme := runtime.NewScheme()
	if err := schedulingv1.AddToScheme(scheme); err != nil {
		return err
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		return err
	}
	if err := admissionregistrationv1.AddToScheme(scheme); err != nil {
		return err
	}
	// daemonguard reads PriorityClasses and, for the node-aware rules,
	// Nodes; self-managed certificates add their Secret and webhook
	// configurations.
	byObject := map[client.Object]cache.ByObject{&schedulingv1.PriorityClass{}: {}}
	if opts.NodeChecks {
		byObject[&corev1.Node{}] = cache.ByObject{Transform: slimNode}
	}
	mode, err := certs.ParseMode(string(opts.Certificates))
	if err != nil {
		return err
	}
	selfManaged := opts.SelfManaged
	if mode == certs.ModeSelfManaged {
		if selfManaged.Namespace == "" {
			selfManaged.Namespace = opts.Namespace
		}
		if selfManaged.CertDir == "" {
			selfManaged.CertDir, selfManaged.CertName, selfManaged.KeyName = opts.CertDir, opts.CertName, opts.KeyName
		}
		if err := selfManaged.Validate(); err != nil {
			return err
		}
		if err := certs.AddToScheme(scheme); err != nil {
			return err
		}
		maps.Copy(byObject, selfManaged.CacheByObject())
	}
	registry := opts.MetricsRegistry
	if registry == nil {
		registry = ctrlmetrics.Registry
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
	tlsOpts := []func(*tls.Config){func(c *tls.Config) {
		c.MinVersion = tls.VersionTLS12
		c.GetCertificate = certWatcher.GetCertificate
	}}
	if !opts.EnableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	// The manager runs on its own context: when ctx ends, the webhook first
	// serves through the shutdown delay (closing is set), and only then are
	// the manager and its servers stopped.
	closing := &atomic.Bool{}
	mgrCtx, stopManager := context.WithCancel(context.WithoutCancel(ctx))
	defer stopManager()
	go func() {
		select {
		case <-ctx.Done():
		case <-mgrCtx.Done():
			return
		}
		closing.Store(true)
		log.Info("shutting down: not ready, asking clients to reconnect elsewhere", "shutdownDelay", opts.ShutdownDelay, "drainTimeout", limits.DrainTimeout)
		t := time.NewTimer(opts.ShutdownDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-mgrCtx.Done():
		}
		stopManager()
	}()
	var server crwebhook.Server = newServer(opts.Host, opts.Port, tlsOpts, limits, closing, log.WithName("server"))
	metricsOpts := metricsserver.Options{BindAddress: opts.MetricsAddr}
	if opts.MetricsSecure {
		metricsOpts.SecureServing = true
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
		metricsOpts.TLSOpts = tlsOpts
	}
	// The manager's own bound on stopping: the drain plus room for the
	// informers and the health server.
	graceful := limits.DrainTimeout + 5*time.Second
	mgr, err := ctrl.NewManager(cfg, manager.Options{
		Scheme:                  scheme,
		Metrics:                 metricsOpts,
		HealthProbeBindAddress:  opts.HealthAddr,
		WebhookServer:           server,
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
		return fmt.Errorf("creating manager: %w", err)
	}
	metrics, err := NewMetrics(registry)
	if err != nil {
		return err
	}
	classes, err := mgr.GetCache().GetInformer(mgrCtx, &schedulingv1.PriorityClass{})
	if err != nil {
		return fmt.Errorf("watching PriorityClasses: %w", err)
	}
	reader := mgr.GetCache()
	popts := policy.Options{OwnNamespace: opts.Namespace, ClassExists: classLookup(reader)}
	var nodeInformer cache.Informer
	if opts.NodeChecks {
		if nodeInformer, err = mgr.GetCache().GetInformer(mgrCtx, &corev1.Node{}); err != nil {
			return fmt.Errorf("watching Nodes: %w", err)
		}
		popts.Nodes = nodeLister(reader)
	}
	source, err := NewPolicySource(opts.PolicyFile, popts, metrics, log)
	if err != nil {
		return err
	}

	// The manager runs the webhook server only once it has been asked for it.
	server = mgr.GetWebhookServer()
	server.Register(MutatePath, NewMutatingHandler(source.Current, metrics, log))
	server.Register(ValidatePath, NewValidatingHandler(source.Current, metrics, log))
	// Ready only once TLS serves and the PriorityClass cache is synced, so a
	// new replica never answers with a stale "class missing" warning.
	if err := mgr.AddReadyzCheck("webhook", server.StartedChecker()); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("priorityclass-cache", func(*http.Request) error {
		if !classes.HasSynced() {
			return errors.New("PriorityClass cache not synced")
		}
		return nil
	}); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("node-cache", func(*http.Request) error {
		if nodeInformer != nil && !nodeInformer.HasSynced() {
			return errors.New("node cache not synced")
		}
		return nil
	}); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("serving-certificate", certWatcher.Checker); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("shutdown", func(*http.Request) error {
		if closing.Load() {
			return errors.New("shutting down")
		}
		return nil
	}); err != nil {
		return err
	}
	if err := mgr.Add(certWatcher); err != nil {
		return err
	}
	if mode == certs.ModeSelfManaged {
		selfManaged.FilesWritten = func() { certWatcher.Reload() }
		rotator, err := certs.NewRotator(mgr.GetClient(), mgr.GetAPIReader(), mgr.GetCache(), selfManaged, log.WithName("certs"))
		if err != nil {
			return err
		}
		if err := mgr.Add(rotator); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.Add(everyReplica(func(ctx context.Context) error {
		source.Watch(ctx, opts.PolicyPollInterval)
		return nil
	})); err != nil {
		return err
	}
	if opts.MutatingConfiguration != "" {
		if err := mgr.Add(&conditionSyncer{
			name: opts.MutatingConfiguration, always: opts.MutatingAlways, reader: mgr.GetAPIReader(), writer: mgr.GetClient(),
			policy: source.Current, check: time.Minute, poll: time.Second,
			metrics: metrics, log: log.WithName("match-conditions"),
		}); err != nil {
			return err
		}
	}
	if err := addReporter(mgr, cfg, opts, source, registry, log); err != nil {
		return err
	}
	log.Info("starting", "port", opts.Port, "certDir", opts.CertDir, "certificates", mode, "policy", opts.PolicyFile, "namespace", opts.Namespace,
		"metricsSecure", opts.MetricsSecure, "shutdownDelay", opts.ShutdownDelay)
	return mgr.Start(mgrCtx)
}

// nodeLister lists the Nodes in the informer cache, without copying them:
// the node-aware rules only read, and a copy per node per admission would
// cost more than the checks at a thousand nodes.
func nodeLister(r client.Reader) validators.NodeLister {
	return func(ctx context.Context) ([]*corev1.Node, error) {
		var list corev1.NodeList
		if err := r.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
			return nil, err
		}
		out := make([]*corev1.Node, len(list.Items))
		for i := range list.Items {
			out[i] = &list.Items[i]
		}
		return out, nil
	}
}

// slimNode keeps in the cache only what the node-aware rules read: the
// images a node holds and the managed fields are most of a Node's size.
func slimNode(obj any) (any, error) {
	if n, ok := obj.(*corev1.Node); ok {
		n.ManagedFields = nil
		n.Status.Images = nil
		n.Annotations = nil
	}
	return obj, nil
}

// classLookup asks the informer cache whether a PriorityClass exists.
func classLookup(r client.Reader) mutators.ClassLookup {
	return func(ctx context.Context, name string) (bool, error) {
		var pc schedulingv1.PriorityClass
		err := r.Get(ctx, client.ObjectKey{Name: name}, &pc)
		switch {
		case err == nil:
			return true, nil
		case apierrors.IsNotFound(err):
			return false, nil
		}
		return false, err
	}
}
