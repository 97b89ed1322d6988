package certs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

const (
	testNS     = "daemonguard-system"
	testSecret = "daemonguard-tls"
	testConfig = "daemonguard"
)

func testConfigurations() []client.Object {
	path := "/mutate-apps-v1-daemonset"
	cc := admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: testNS, Name: "daemonguard", Path: &path}}
	none := admissionregistrationv1.SideEffectClassNone
	return []client.Object{
		&admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testConfig},
			Webhooks: []admissionregistrationv1.MutatingWebhook{
				{Name: "a.daemonguard.io", ClientConfig: cc, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
				{Name: "b.daemonguard.io", ClientConfig: cc, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}},
			},
		},
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: testConfig},
			Webhooks:   []admissionregistrationv1.ValidatingWebhook{{Name: "v.daemonguard.io", ClientConfig: cc, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}}},
		},
		// Not ours: left alone.
		&admissionregistrationv1.ValidatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "someone-else"},
			Webhooks:   []admissionregistrationv1.ValidatingWebhook{{Name: "x.example.com", ClientConfig: cc, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}}},
		},
	}
}

func newFakeClient(t *testing.T, objs ...client.Object) client.WithWatch {
	t.Helper()
	s := runtime.NewScheme()
	if err := AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(s).WithObjects(objs...).Build()
}

func newTestRotator(t *testing.T, c client.Client, clk *clocktesting.FakeClock, l Lifetimes) *Rotator {
	t.Helper()
	r, err := NewRotator(c, c, nil, RotatorOptions{
		Namespace: testNS, SecretName: testSecret, ServiceName: "daemonguard", WebhookConfigurationName: testConfig,
		ExtraSANs: []string{"127.0.0.1"}, Lifetimes: l,
		CertDir: t.TempDir(), CertName: "tls.crt", KeyName: "tls.key", Clock: clk,
	}, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func getSecret(t *testing.T, c client.Client) (*corev1.Secret, *Bundle) {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: testNS, Name: testSecret}, s); err != nil {
		t.Fatal(err)
	}
	b, problems := ParseSecret(s)
	if len(problems) > 0 {
		t.Fatalf("stored Secret: %q", problems)
	}
	return s, b
}

// caBundles returns the caBundle of every webhook in our two
// configurations, and checks the one that is not ours was left alone.
func caBundles(t *testing.T, c client.Client) [][]byte {
	t.Helper()
	ctx := context.Background()
	var out [][]byte
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: testConfig}, m); err != nil {
		t.Fatal(err)
	}
	for _, w := range m.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: testConfig}, v); err != nil {
		t.Fatal(err)
	}
	for _, w := range v.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	if err := c.Get(ctx, client.ObjectKey{Name: "someone-else"}, v); err != nil {
		t.Fatal(err)
	}
	if len(v.Webhooks[0].ClientConfig.CABundle) != 0 {
		t.Error("another webhook configuration was changed")
	}
	return out
}

func servedFile(t *testing.T, r *Rotator) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.opts.CertDir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRotatorBootstrap(t *testing.T) {
	ctx := context.Background()
	var writes atomic.Int32
	base := newFakeClient(t, testConfigurations()...)
	c := interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			writes.Add(1)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			writes.Add(1)
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			writes.Add(1)
			return c.Patch(ctx, obj, p, opts...)
		},
	})
	clk := clocktesting.NewFakeClock(t0)
	r := newTestRotator(t, c, clk, testLifetimes)
	next, err := r.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, b := getSecret(t, c)
	if s.Type != corev1.SecretTypeTLS || s.Labels[ManagedByLabel] != "daemonguard" {
		t.Errorf("Secret type %q labels %v", s.Type, s.Labels)
	}
	if b.CA == nil || b.Serving == nil || len(b.Previous) != 0 || !b.CAInjectedAt.Equal(t0) {
		t.Fatalf("stored bundle incomplete: %+v", b)
	}
	if err := verify(b.Serving.Cert, t0, "daemonguard."+testNS+".svc", b.CA.Cert); err != nil {
		t.Errorf("serving certificate: %v", err)
	}
	if err := verify(b.Serving.Cert, t0, "127.0.0.1", b.CA.Cert); err != nil {
		t.Errorf("extra SAN: %v", err)
	}
	for i, cb := range caBundles(t, c) {
		if !bytes.Equal(cb, b.CABundle()) {
			t.Errorf("webhook %d caBundle not the stored CA", i)
		}
	}
	if !bytes.Equal(servedFile(t, r), b.Serving.CertPEM) {
		t.Error("certificate directory does not hold the stored certificate")
	}
	if want := RenewalTime(b.Serving.Cert, testLifetimes.RenewBefore); !next.Equal(want) {
		t.Errorf("next check %v, want %v", next, want)
	}
	// Secret create, two configuration patches, the injected-at update.
	if n := writes.Load(); n != 4 {
		t.Errorf("%d writes to bootstrap, want 4", n)
	}

	// Nothing to do: nothing written.
	writes.Store(0)
	clk.Step(time.Hour)
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := writes.Load(); n != 0 {
		t.Errorf("%d writes when nothing changed", n)
	}

	// Someone resets a caBundle (a helm upgrade rendering it empty): restored.
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := c.Get(ctx, client.ObjectKey{Name: testConfig}, m); err != nil {
		t.Fatal(err)
	}
	m.Webhooks[1].ClientConfig.CABundle = nil
	if err := base.Update(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for i, cb := range caBundles(t, c) {
		if !bytes.Equal(cb, b.CABundle()) {
			t.Errorf("webhook %d caBundle not restored", i)
		}
	}
}

// Two replicas start on an empty namespace; the second reads before the
// first's Secret exists and creates after it: its create fails with
// AlreadyExists and it adopts the first's certificates.
func TestRotatorLosesCreateRace(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(t0)
	base := newFakeClient(t, testConfigurations()...)
	a := newTestRotator(t, base, clk, testLifetimes)
	var raced atomic.Bool
	var creates atomic.Int32
	bClient := interceptor.NewClient(base, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			if raced.CompareAndSwap(false, true) {
				// a wins between b's read and b's create.
				if _, err := a.Sync(ctx); err != nil {
					t.Error(err)
				}
			}
			err := c.Create(ctx, obj, opts...)
			if err == nil {
				creates.Add(1)
			}
			return err
		},
	})
	b := newTestRotator(t, bClient, clk, testLifetimes)
	if _, err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !raced.Load() || creates.Load() != 0 {
		t.Fatalf("race not staged: raced %v, b created %d", raced.Load(), creates.Load())
	}
	_, stored := getSecret(t, base)
	if !bytes.Equal(servedFile(t, a), stored.Serving.CertPEM) || !bytes.Equal(servedFile(t, b), stored.Serving.CertPEM) {
		t.Error("the replicas do not both serve the stored certificate")
	}
	for i, cb := range caBundles(t, base) {
		if !bytes.Equal(cb, stored.CABundle()) {
			t.Errorf("webhook %d caBundle is not the winner's", i)
		}
	}
}

// Two replicas renew at the same moment; the second's update carries a
// stale resourceVersion, fails with Conflict, and it adopts the first's
// renewal instead of overwriting it.
func TestRotatorLosesUpdateRace(t *testing.T) {
	ctx := context.Background()
	clk := clocktesting.NewFakeClock(t0)
	base := newFakeClient(t, testConfigurations()...)
	a := newTestRotator(t, base, clk, testLifetimes)
	if _, err := a.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	_, before := getSecret(t, base)
	clk.SetTime(RenewalTime(before.Serving.Cert, testLifetimes.RenewBefore))

	var raced atomic.Bool
	var conflicts atomic.Int32
	bClient := interceptor.NewClient(base, interceptor.Funcs{
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			if raced.CompareAndSwap(false, true) {
				if _, err := a.Sync(ctx); err != nil {
					t.Error(err)
				}
			}
			err := c.Update(ctx, obj, opts...)
			if err != nil {
				conflicts.Add(1)
			}
			return err
		},
	})
	b := newTestRotator(t, bClient, clk, testLifetimes)
	if _, err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	_, after := getSecret(t, base)
	if after.Serving.Cert.Equal(before.Serving.Cert) {
		t.Fatal("not renewed")
	}
	if conflicts.Load() != 1 {
		t.Errorf("%d failed updates, want the one conflict", conflicts.Load())
	}
	if !bytes.Equal(servedFile(t, b), after.Serving.CertPEM) {
		t.Error("the loser does not serve the winner's certificate")
	}
	if !after.CA.Cert.Equal(before.CA.Cert) {
		t.Error("a serving renewal replaced the CA")
	}
}

// A CA rollover through the Rotator: the new CA goes into the caBundle
// beside the old, the served certificate changes only after the rollover
// delay, and the API server's view (the caBundle) always trusts it.
func TestRotatorCARollover(t *testing.T) {
	ctx := context.Background()
	l := Lifetimes{CAValidity: 100 * hour, CARenewBefore: 30 * hour, Validity: 10 * hour, RenewBefore: 4 * hour, RolloverDelay: 10 * time.Minute}
	clk := clocktesting.NewFakeClock(t0)
	c := newFakeClient(t, testConfigurations()...)
	r := newTestRotator(t, c, clk, l)
	if _, err := r.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	_, first := getSecret(t, c)
	cas := map[string]bool{}
	sawTwoCAs := false
	for clk.Now().Before(t0.Add(250 * hour)) {
		next, err := r.Sync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		_, b := getSecret(t, c)
		cas[Fingerprint(b.CA.Cert)] = true
		served, err := ParseCertificates(servedFile(t, r))
		if err != nil {
			t.Fatal(err)
		}
		roots, err := ParseCertificates(caBundles(t, c)[0])
		if err != nil {
			t.Fatal(err)
		}
		sawTwoCAs = sawTwoCAs || len(roots) == 2
		if err := verify(served[0], clk.Now(), "daemonguard", roots...); err != nil {
			t.Fatalf("at +%v the served certificate is not trusted by the caBundle: %v", clk.Now().Sub(t0), err)
		}
		// Jump to the next decision point, as Start would sleep.
		clk.SetTime(next.Add(time.Second))
	}
	if len(cas) < 3 || !sawTwoCAs {
		t.Errorf("%d CAs, two CAs in the caBundle seen: %v", len(cas), sawTwoCAs)
	}
	if cas[Fingerprint(first.CA.Cert)] != true {
		t.Error("first CA not recorded")
	}
}
