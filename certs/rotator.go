package certs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// RotatorOptions configure self-managed certificates.
type RotatorOptions struct {
	// Namespace is the webhook's namespace, home of the Secret and Service.
	Namespace string
	// SecretName is the kubernetes.io/tls Secret holding the CA and the
	// serving certificate.
	SecretName string
	// ServiceName is the webhook's Service; the serving certificate is for
	// its DNS names, plus ExtraSANs (DNS names or IP addresses).
	ServiceName string
	ExtraSANs   []string
	// WebhookConfigurationName names both the MutatingWebhookConfiguration
	// and the ValidatingWebhookConfiguration whose caBundle is kept.
	WebhookConfigurationName string
	Lifetimes                Lifetimes
	// CertDir, CertName and KeyName are where the stored pair is written
	// for Watcher to serve (ca.crt is written next to them).
	CertDir, CertName, KeyName string
	// FilesWritten, when set, is called after new files were written to
	// CertDir: Watcher.Reload, so they are served now, not at the next poll.
	FilesWritten func()
	// ResyncInterval bounds the time between checks when nothing changes;
	// DefaultResyncInterval when zero.
	ResyncInterval time.Duration
	// Clock is the real clock when nil.
	Clock clock.Clock
}

// DefaultResyncInterval is how often the Rotator checks the Secret and the
// webhook configurations without being told anything changed.
const DefaultResyncInterval = 30 * time.Second

// Validate checks the options.
func (o RotatorOptions) Validate() error {
	var errs []error
	for what, v := range map[string]string{
		"namespace": o.Namespace, "Secret name": o.SecretName, "Service name": o.ServiceName,
		"webhook configuration name": o.WebhookConfigurationName, "certificate directory": o.CertDir,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("self-managed certificates need a %s", what))
		}
	}
	return errors.Join(append(errs, o.Lifetimes.Validate())...)
}

// Names are the names on the serving certificate: the Service's DNS names
// as the API server calls them, then ExtraSANs.
func (o RotatorOptions) Names() ServingNames {
	svc, ns := o.ServiceName, o.Namespace
	n := ServingNames{DNSNames: []string{svc + "." + ns + ".svc", svc + "." + ns, svc}}
	for _, san := range o.ExtraSANs {
		if ip := net.ParseIP(san); ip != nil {
			n.IPs = append(n.IPs, ip)
		} else if san != "" {
			n.DNSNames = append(n.DNSNames, san)
		}
	}
	return n
}

// CacheByObject restricts the manager's cache to the objects the Rotator
// watches: its one Secret and its two webhook configurations (RBAC can then
// grant list and watch by resourceNames).
func (o RotatorOptions) CacheByObject() map[client.Object]cache.ByObject {
	byName := func(n string) fields.Selector { return fields.OneTermEqualSelector("metadata.name", n) }
	return map[client.Object]cache.ByObject{
		&corev1.Secret{}: {Namespaces: map[string]cache.Config{o.Namespace: {}}, Field: byName(o.SecretName)},
		&admissionregistrationv1.MutatingWebhookConfiguration{}:   {Field: byName(o.WebhookConfigurationName)},
		&admissionregistrationv1.ValidatingWebhookConfiguration{}: {Field: byName(o.WebhookConfigurationName)},
	}
}

// AddToScheme adds the types the Rotator reads and writes.
func AddToScheme(s *runtime.Scheme) error {
	return errors.Join(corev1.AddToScheme(s), admissionregistrationv1.AddToScheme(s))
}

// Rotator keeps self-managed certificates: the CA and serving certificate in
// the Secret, the CA bundle in the webhook configurations, and the serving
// pair in the certificate directory. Every replica runs one.
//
// Exactly one replica's write wins, by optimistic concurrency rather than
// leader election: every replica reads, decides, and writes with the
// resourceVersion it read (or creates); the API server accepts one write
// and rejects the others with Conflict or AlreadyExists, and the losers
// re-read and adopt the winner's certificates. Leader election would add a
// Lease, its RBAC and a failover delay during which nobody renews, and the
// non-leaders would still have to read and serve the Secret; since every
// replica must run this loop to serve anyway, letting the API server's
// resourceVersion check pick the writer is simpler and has no idle standby.
// A losing write costs one key generation.
type Rotator struct {
	opts      RotatorOptions
	names     ServingNames
	client    client.Client
	reader    client.Reader
	informers cache.Informers
	clock     clock.Clock
	log       logr.Logger
	trigger   chan struct{}
}

// NewRotator returns a Rotator that writes with c, reads with reader (it
// must not be a cache: the decisions need the latest state), and, when
// informers is not nil, rechecks as soon as the watched objects change.
func NewRotator(c client.Client, reader client.Reader, informers cache.Informers, opts RotatorOptions, log logr.Logger) (*Rotator, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &Rotator{
		opts: opts, names: opts.Names(), client: c, reader: reader, informers: informers,
		clock: opts.Clock, log: log, trigger: make(chan struct{}, 1),
	}, nil
}

// NeedLeaderElection is false: every replica keeps its own files and the
// writes are arbitrated by the API server (see Rotator).
func (r *Rotator) NeedLeaderElection() bool { return false }

// Start keeps the certificates until ctx ends (manager.Runnable).
func (r *Rotator) Start(ctx context.Context) error {
	if r.informers != nil {
		// Watching only speeds things up (another replica's renewal, a
		// caBundle someone reset); the periodic check is enough for
		// correctness. So the informers are not waited for: without list
		// and watch permission they never sync, and the Rotator polls.
		for _, obj := range []client.Object{&corev1.Secret{}, &admissionregistrationv1.MutatingWebhookConfiguration{}, &admissionregistrationv1.ValidatingWebhookConfiguration{}} {
			inf, err := r.informers.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
			if err != nil {
				return fmt.Errorf("watching %s: %w", kindOf(obj), err)
			}
			if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
				AddFunc:    r.poke,
				UpdateFunc: func(_, o any) { r.poke(o) },
				DeleteFunc: r.poke,
			}); err != nil {
				return err
			}
		}
	}
	const minBackoff, maxBackoff = 500 * time.Millisecond, 30 * time.Second
	backoff := minBackoff
	for {
		next, err := r.Sync(ctx)
		wait := r.opts.ResyncInterval
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			r.log.Error(err, "keeping self-managed certificates failed; retrying", "in", backoff)
			wait, backoff = backoff, min(2*backoff, maxBackoff)
		} else {
			backoff = minBackoff
			// A little past the deadline, so the decision then sees it passed.
			if d := next.Sub(r.clock.Now()) + 50*time.Millisecond; !next.IsZero() && d < wait {
				wait = max(d, 0)
			}
		}
		t := r.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		case <-r.trigger:
			t.Stop()
		}
	}
}

// poke schedules a check when one of our objects changed.
func (r *Rotator) poke(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if o, ok := obj.(metav1.Object); ok {
		switch o.(type) {
		case *corev1.Secret:
			if o.GetName() != r.opts.SecretName || o.GetNamespace() != r.opts.Namespace {
				return
			}
		default:
			if o.GetName() != r.opts.WebhookConfigurationName {
				return
			}
		}
	}
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// errRetry marks a write that lost to another replica's.
var errRetry = errors.New("lost a write race")

// Sync brings the Secret, the certificate directory and the webhook
// configurations up to date once. It returns when it next needs to run
// (zero: only on change).
func (r *Rotator) Sync(ctx context.Context) (time.Time, error) {
	for attempt := 1; ; attempt++ {
		next, err := r.syncOnce(ctx)
		if !errors.Is(err, errRetry) {
			return next, err
		}
		r.log.V(1).Info("another replica wrote first; re-reading", "attempt", attempt)
		if attempt == 10 {
			return time.Time{}, err
		}
	}
}

func (r *Rotator) syncOnce(ctx context.Context) (time.Time, error) {
	now := r.clock.Now()
	// The webhook configurations are read before the Secret: a replica
	// that writes a newer Secret updates them after its write, so either
	// its update comes after ours, or ours fails on the resourceVersion
	// read here. A stale bundle can never overwrite a newer one.
	configs, err := r.getConfigurations(ctx)
	if err != nil {
		return time.Time{}, err
	}
	secret := &corev1.Secret{}
	switch err := r.reader.Get(ctx, client.ObjectKey{Namespace: r.opts.Namespace, Name: r.opts.SecretName}, secret); {
	case apierrors.IsNotFound(err):
		secret = nil
	case err != nil:
		return time.Time{}, fmt.Errorf("reading Secret %s/%s: %w", r.opts.Namespace, r.opts.SecretName, err)
	}
	bundle, problems := ParseSecret(secret)
	l := r.opts.Lifetimes

	if plan := Decide(bundle, r.names, l, now); plan.Changed() {
		next, err := plan.Apply(bundle, r.names, l, now, fmt.Sprintf("%s.%s-ca@%d", r.opts.ServiceName, r.opts.Namespace, now.Unix()))
		if err != nil {
			return time.Time{}, err
		}
		if secret, err = r.store(ctx, secret, next); err != nil {
			return time.Time{}, err
		}
		bundle = next
		log := r.log
		if len(problems) > 0 {
			log = log.WithValues("problems", problems)
		}
		log.Info("certificates renewed", "reasons", plan.Reasons,
			"ca", Fingerprint(bundle.CA.Cert), "caNotAfter", stamp(bundle.CA.Cert.NotAfter), "trustedCAs", len(bundle.Trusted()),
			"serial", bundle.Serving.Cert.SerialNumber.Text(16), "notAfter", stamp(bundle.Serving.Cert.NotAfter))
	}

	if bundle.Serving != nil {
		files := map[string][]byte{r.opts.CertName: bundle.Serving.CertPEM, r.opts.KeyName: bundle.Serving.KeyPEM}
		if _, taken := files[SecretCAKey]; !taken {
			files[SecretCAKey] = bundle.CABundle()
		}
		changed, err := WriteFiles(r.opts.CertDir, files)
		if err != nil {
			return time.Time{}, fmt.Errorf("writing the serving certificate to %s: %w", r.opts.CertDir, err)
		}
		if changed {
			r.log.Info("serving certificate written", "dir", r.opts.CertDir, "serial", bundle.Serving.Cert.SerialNumber.Text(16))
			if r.opts.FilesWritten != nil {
				r.opts.FilesWritten()
			}
		}
	}

	caBundle := bundle.CABundle()
	for _, cfg := range configs {
		if err := r.inject(ctx, cfg, caBundle); err != nil {
			return time.Time{}, err
		}
	}
	if secret != nil && bundle.CA != nil && bundle.CAInjectedAt.IsZero() {
		// Every configuration that exists now carries the current CA. One
		// created later, with an empty caBundle, is filled in as soon as it
		// is seen; until then it fails whatever certificate is served.
		bundle.CAInjectedAt = now
		if _, err := r.store(ctx, secret, bundle); err != nil {
			return time.Time{}, err
		}
	}
	return NextCheck(bundle, l, now), nil
}

// store creates the Secret (cur nil) or updates cur to hold b, failing with
// errRetry if another replica wrote it since it was read.
func (r *Rotator) store(ctx context.Context, cur *corev1.Secret, b *Bundle) (*corev1.Secret, error) {
	var err error
	s := cur.DeepCopy()
	if cur == nil {
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Namespace: r.opts.Namespace, Name: r.opts.SecretName,
			Labels: map[string]string{ManagedByLabel: "daemonguard"},
		}}
		b.WriteTo(s)
		err = r.client.Create(ctx, s)
	} else {
		b.WriteTo(s)
		err = r.client.Update(ctx, s)
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return nil, errRetry
	}
	if err != nil {
		return nil, fmt.Errorf("writing Secret %s/%s: %w", r.opts.Namespace, r.opts.SecretName, err)
	}
	return s, nil
}

func (r *Rotator) getConfigurations(ctx context.Context) ([]client.Object, error) {
	var out []client.Object
	for _, obj := range []client.Object{&admissionregistrationv1.MutatingWebhookConfiguration{}, &admissionregistrationv1.ValidatingWebhookConfiguration{}} {
		err := r.reader.Get(ctx, client.ObjectKey{Name: r.opts.WebhookConfigurationName}, obj)
		switch {
		case apierrors.IsNotFound(err):
			// Not installed (yet): the informer says when it is.
			continue
		case err != nil:
			return nil, fmt.Errorf("reading %s %s: %w", kindOf(obj), r.opts.WebhookConfigurationName, err)
		}
		out = append(out, obj)
	}
	return out, nil
}

// inject sets caBundle on every webhook of cfg, if it is not already set.
// The patch carries the resourceVersion read (see syncOnce), and only the
// caBundles, so fields this client does not know survive.
func (r *Rotator) inject(ctx context.Context, cfg client.Object, caBundle []byte) error {
	orig := cfg.DeepCopyObject().(client.Object)
	changed := false
	set := func(cc *admissionregistrationv1.WebhookClientConfig) {
		if !bytes.Equal(cc.CABundle, caBundle) {
			cc.CABundle, changed = caBundle, true
		}
	}
	switch c := cfg.(type) {
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for i := range c.Webhooks {
			set(&c.Webhooks[i].ClientConfig)
		}
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for i := range c.Webhooks {
			set(&c.Webhooks[i].ClientConfig)
		}
	}
	if !changed {
		return nil
	}
	err := r.client.Patch(ctx, cfg, client.StrategicMergeFrom(orig, client.MergeFromWithOptimisticLock{}))
	if apierrors.IsConflict(err) {
		return errRetry
	}
	if err != nil {
		return fmt.Errorf("writing the caBundle of %s %s: %w", kindOf(cfg), cfg.GetName(), err)
	}
	r.log.Info("caBundle written", "kind", kindOf(cfg), "name", cfg.GetName(), "cas", bytes.Count(caBundle, []byte("BEGIN CERTIFICATE")))
	return nil
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *corev1.Secret:
		return "Secret"
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		return "MutatingWebhookConfiguration"
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		return "ValidatingWebhookConfiguration"
	}
	return fmt.Sprintf("%T", obj)
}
