package certs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	"github.com/daemonguard/daemonguard/internal/kube"
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
	opts    RotatorOptions
	names   ServingNames
	clients rotatorClients
	clock   clock.Clock
	log     logr.Logger
	trigger chan struct{}
}

// secretClient reads, writes and watches Secrets of one namespace: kube's
// Clientset.Secrets(namespace), or client-go's typed client.
type secretClient interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*corev1.Secret, error)
	Create(ctx context.Context, s *corev1.Secret, opts metav1.CreateOptions) (*corev1.Secret, error)
	Update(ctx context.Context, s *corev1.Secret, opts metav1.UpdateOptions) (*corev1.Secret, error)
	kube.ListWatcher[*corev1.SecretList]
}

// configurationClient reads, patches and watches one kind of webhook
// configuration (T, listed as L): kube's Clientset or client-go's typed
// client of MutatingWebhookConfigurations or ValidatingWebhookConfigurations.
type configurationClient[T, L runtime.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Patch(ctx context.Context, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, subresources ...string) (T, error)
	kube.ListWatcher[L]
}

// rotatorClients are the API the Rotator uses: get, create, update, list
// and watch its Secret; get, patch, list and watch its two webhook
// configurations (the verbs the chart grants, by name but for create).
type rotatorClients struct {
	secrets    secretClient
	mutating   configurationClient[*admissionregistrationv1.MutatingWebhookConfiguration, *admissionregistrationv1.MutatingWebhookConfigurationList]
	validating configurationClient[*admissionregistrationv1.ValidatingWebhookConfiguration, *admissionregistrationv1.ValidatingWebhookConfigurationList]
}

// NewRotator returns a Rotator that reads and writes through cs, straight
// from the API server (the decisions need the latest state), and, once
// started, watches its Secret and webhook configurations to recheck as soon
// as they change.
func NewRotator(cs *kube.Clientset, opts RotatorOptions, log logr.Logger) (*Rotator, error) {
	return newRotator(rotatorClients{
		secrets:    cs.Secrets(opts.Namespace),
		mutating:   cs.MutatingWebhookConfigurations(),
		validating: cs.ValidatingWebhookConfigurations(),
	}, opts, log)
}

func newRotator(c rotatorClients, opts RotatorOptions, log logr.Logger) (*Rotator, error) {
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
		opts: opts, names: opts.Names(), clients: c,
		clock: opts.Clock, log: log, trigger: make(chan struct{}, 1),
	}, nil
}

// Start keeps the certificates until ctx ends. Every replica runs one:
// each keeps its own files, and the API server arbitrates the writes.
func (r *Rotator) Start(ctx context.Context) error {
	// Watching only speeds things up (another replica's renewal, a
	// caBundle someone reset); the periodic check is enough for
	// correctness. So the informers are not waited for: without list and
	// watch permission they never sync, and the Rotator polls.
	byName := func(name string) func(*metav1.ListOptions) {
		return func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}
	}
	informers := []toolscache.SharedIndexInformer{
		kube.NewInformer(r.clients.secrets, &corev1.Secret{}, byName(r.opts.SecretName)),
		kube.NewInformer(r.clients.mutating, &admissionregistrationv1.MutatingWebhookConfiguration{}, byName(r.opts.WebhookConfigurationName)),
		kube.NewInformer(r.clients.validating, &admissionregistrationv1.ValidatingWebhookConfiguration{}, byName(r.opts.WebhookConfigurationName)),
	}
	for _, inf := range informers {
		if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    r.poke,
			UpdateFunc: func(_, o any) { r.poke(o) },
			DeleteFunc: r.poke,
		}); err != nil {
			return err
		}
	}
	ctx, stop := context.WithCancel(ctx)
	var running sync.WaitGroup
	defer running.Wait()
	defer stop()
	// The informers log (a list or watch refused, say) through the
	// Rotator's logger, as controller-runtime's cache logged through its.
	informersCtx := logr.NewContext(ctx, r.log)
	for _, inf := range informers {
		running.Go(func() { inf.RunWithContext(informersCtx) })
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
	secret, err := r.clients.secrets.Get(ctx, r.opts.SecretName, metav1.GetOptions{})
	switch {
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
// errRetry if another replica wrote it since it was read. It returns the
// Secret as stored.
func (r *Rotator) store(ctx context.Context, cur *corev1.Secret, b *Bundle) (*corev1.Secret, error) {
	var err error
	s := cur.DeepCopy()
	if cur == nil {
		s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Namespace: r.opts.Namespace, Name: r.opts.SecretName,
			Labels: map[string]string{ManagedByLabel: "daemonguard"},
		}}
		b.WriteTo(s)
		s, err = r.clients.secrets.Create(ctx, s, metav1.CreateOptions{})
	} else {
		b.WriteTo(s)
		s, err = r.clients.secrets.Update(ctx, s, metav1.UpdateOptions{})
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		return nil, errRetry
	}
	if err != nil {
		return nil, fmt.Errorf("writing Secret %s/%s: %w", r.opts.Namespace, r.opts.SecretName, err)
	}
	return s, nil
}

// configuration is a webhook configuration as read: its kind, metadata and
// the client config of each webhook, and how to patch it.
type configuration struct {
	kind     string
	meta     *metav1.ObjectMeta
	webhooks []configuredWebhook
	patch    func(ctx context.Context, name string, data []byte) error
}

type configuredWebhook struct {
	name   string
	client *admissionregistrationv1.WebhookClientConfig
}

func (r *Rotator) getConfigurations(ctx context.Context) ([]configuration, error) {
	name := r.opts.WebhookConfigurationName
	var out []configuration
	// Either may not be installed (yet): the informer says when it is.
	switch m, err := r.clients.mutating.Get(ctx, name, metav1.GetOptions{}); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading %s %s: %w", kindMutating, name, err)
	default:
		c := mutatingConfiguration(m)
		c.patch = func(ctx context.Context, name string, data []byte) error {
			_, err := r.clients.mutating.Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
			return err
		}
		out = append(out, c)
	}
	switch v, err := r.clients.validating.Get(ctx, name, metav1.GetOptions{}); {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading %s %s: %w", kindValidating, name, err)
	default:
		c := validatingConfiguration(v)
		c.patch = func(ctx context.Context, name string, data []byte) error {
			_, err := r.clients.validating.Patch(ctx, name, types.StrategicMergePatchType, data, metav1.PatchOptions{})
			return err
		}
		out = append(out, c)
	}
	return out, nil
}

func mutatingConfiguration(m *admissionregistrationv1.MutatingWebhookConfiguration) configuration {
	c := configuration{kind: kindMutating, meta: &m.ObjectMeta}
	for i := range m.Webhooks {
		c.webhooks = append(c.webhooks, configuredWebhook{m.Webhooks[i].Name, &m.Webhooks[i].ClientConfig})
	}
	return c
}

func validatingConfiguration(v *admissionregistrationv1.ValidatingWebhookConfiguration) configuration {
	c := configuration{kind: kindValidating, meta: &v.ObjectMeta}
	for i := range v.Webhooks {
		c.webhooks = append(c.webhooks, configuredWebhook{v.Webhooks[i].Name, &v.Webhooks[i].ClientConfig})
	}
	return c
}

const (
	kindMutating   = "MutatingWebhookConfiguration"
	kindValidating = "ValidatingWebhookConfiguration"
)

// inject sets caBundle on every webhook of cfg, if it is not already set.
// The patch carries the resourceVersion read (see syncOnce), and only the
// caBundles, so fields this client does not know survive.
func (r *Rotator) inject(ctx context.Context, cfg configuration, caBundle []byte) error {
	patch, err := caBundlePatch(cfg, caBundle)
	if patch == nil && err == nil {
		return nil
	}
	if err == nil {
		err = cfg.patch(ctx, cfg.meta.Name, patch)
	}
	if apierrors.IsConflict(err) {
		return errRetry
	}
	if err != nil {
		return fmt.Errorf("writing the caBundle of %s %s: %w", cfg.kind, cfg.meta.Name, err)
	}
	r.log.Info("caBundle written", "kind", cfg.kind, "name", cfg.meta.Name, "cas", bytes.Count(caBundle, []byte("BEGIN CERTIFICATE")))
	return nil
}

// caBundlePatch is the strategic merge patch setting caBundle on every
// webhook of cfg, nil when all have it already. It is the patch
// strategicpatch.CreateTwoWayMergePatch makes from cfg to cfg with those
// caBundles and the resourceVersion read (what controller-runtime's
// StrategicMergeFrom with MergeFromWithOptimisticLock sends), built here
// without strategicpatch, which would bring OpenAPI and protobuf along:
// the webhooks are merged by name, the ones unchanged left out, and the
// API server rejects it with Conflict if the configuration changed since
// it was read.
func caBundlePatch(cfg configuration, caBundle []byte) ([]byte, error) {
	type name struct {
		Name string `json:"name"`
	}
	type webhook struct {
		ClientConfig struct {
			// nil removes the caBundle (json null).
			CABundle *[]byte `json:"caBundle"`
		} `json:"clientConfig"`
		Name string `json:"name"`
	}
	var p struct {
		Order    []name `json:"$setElementOrder/webhooks"`
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
		Webhooks []webhook `json:"webhooks"`
	}
	for _, w := range cfg.webhooks {
		p.Order = append(p.Order, name{w.name})
		if bytes.Equal(w.client.CABundle, caBundle) {
			continue
		}
		u := webhook{Name: w.name}
		if len(caBundle) > 0 {
			u.ClientConfig.CABundle = &caBundle
		}
		p.Webhooks = append(p.Webhooks, u)
	}
	if len(p.Webhooks) == 0 {
		return nil, nil
	}
	if p.Metadata.ResourceVersion = cfg.meta.ResourceVersion; p.Metadata.ResourceVersion == "" {
		return nil, fmt.Errorf("%s %s has no resourceVersion to patch it with", cfg.kind, cfg.meta.Name)
	}
	return json.Marshal(p)
}
