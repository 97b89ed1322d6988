package certs_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	"github.com/cert-manager/cert-manager/pkg/controller/cainjector"
	cmutil "github.com/cert-manager/cert-manager/pkg/util"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/daemonguard/daemonguard/certs"
	"github.com/daemonguard/daemonguard/webhook"
)

// TestCertManagerMode installs the chart's default (cert-manager) manifest:
// its Issuers and Certificates, and webhook configurations carrying the
// cert-manager.io/inject-ca-from annotation but no caBundle. No cert-manager
// controller runs: the test writes the serving Secret as cert-manager's
// issuer would and the files as kubelet's Secret volume would. cert-manager's
// own CA injector, run in-process, must then make the API server trust the
// webhook, and follow renewals, with the webhook never restarted.
func TestCertManagerMode(t *testing.T) {
	ctx := context.Background()
	const apps = "apps-cert-manager"
	createNamespace(t, apps)
	lb := newBalancer(t)
	m := loadManifest(t, "daemonguard.yaml", lb.URL())

	ref := m.mutating.Annotations[cmapi.WantInjectAnnotation]
	if ref == "" || m.validating.Annotations[cmapi.WantInjectAnnotation] != ref {
		t.Fatalf("the webhook configurations should both carry %s, got %q and %q", cmapi.WantInjectAnnotation, ref, m.validating.Annotations[cmapi.WantInjectAnnotation])
	}
	var serving *cmapi.Certificate
	for _, o := range m.objects {
		if c, ok := o.(*cmapi.Certificate); ok && c.Namespace+"/"+c.Name == ref {
			serving = c
		}
	}
	if serving == nil {
		t.Fatalf("the manifest has no Certificate %s, which the webhook configurations inject from", ref)
	}
	// The API server calls 127.0.0.1 here, not the Service: ask for it on
	// the Certificate, as a user would.
	serving.Spec.IPAddresses = append(serving.Spec.IPAddresses, "127.0.0.1")
	create(t, m.objects...)

	// What cert-manager's CA issuer writes for the Certificate.
	ca1 := mustCA(t, "daemonguard-ca")
	leaf1 := issueFor(t, serving, ca1)
	secret := &corev1.Secret{
		ObjectMeta: metaName(serving.Namespace, serving.Spec.SecretName),
		Type:       corev1.SecretTypeTLS,
	}
	secret.Annotations = map[string]string{cmapi.CertificateNameKey: serving.Name, cmapi.IssuerNameAnnotationKey: serving.Spec.IssuerRef.Name}
	secret.Data = secretData(ca1, leaf1)
	create(t, secret)
	// What kubelet mounts from it.
	certDir := t.TempDir()
	mount := func() {
		t.Helper()
		if _, err := certs.WriteFiles(certDir, secret.Data); err != nil {
			t.Fatal(err)
		}
	}
	mount()

	create(t, m.mutating, m.validating)
	r := startReplica(t, "a", asServiceAccount(restCfg), webhook.Options{CertDir: certDir})
	lb.Set(r.port)
	eventually(t, 30*time.Second, "webhook ready", r.ready)
	if err := dryRunCreate(ctx, apps); err == nil {
		t.Fatal("a DaemonSet was admitted before any caBundle was injected")
	} else {
		t.Logf("before injection, as expected: %v", err)
	}

	startCAInjector(t)
	eventually(t, 30*time.Second, "CA injected by cert-manager's cainjector", func() error { return allCABundles(ctx, ca1.CertPEM) })
	eventually(t, 10*time.Second, "DaemonSet mutated through the API server", func() error { return dryRunCreate(ctx, apps) })

	t.Run("renewal picked up without a restart", func(t *testing.T) {
		leaf2 := issueFor(t, serving, ca1)
		secret.Data = secretData(ca1, leaf2)
		if err := k8s.Update(ctx, secret); err != nil {
			t.Fatal(err)
		}
		mount()
		eventually(t, 10*time.Second, "renewed certificate served", func() error { return serves(r, leaf2) })
		if err := dryRunCreate(ctx, apps); err != nil {
			t.Error(err)
		}
		if n := r.metric(t, "daemonguard_certificate_reloads_total"); n != 2 {
			t.Errorf("%v certificate reloads, want 2", n)
		}
		if got, want := r.metric(t, "daemonguard_serving_certificate_expiry_timestamp_seconds"), float64(leaf2.Cert.NotAfter.Unix()); got != want {
			t.Errorf("expiry metric %v, want %v", got, want)
		}
	})

	t.Run("new CA injected, then served", func(t *testing.T) {
		ca2 := mustCA(t, "daemonguard-ca-2")
		leaf3 := issueFor(t, serving, ca2)
		secret.Data = secretData(ca2, leaf3)
		if err := k8s.Update(ctx, secret); err != nil {
			t.Fatal(err)
		}
		// cert-manager's injector merges (its CAInjectorMerging feature):
		// the old CA stays in the caBundle beside the new one until it
		// expires, so the certificate still served keeps working.
		eventually(t, 30*time.Second, "new CA added by cert-manager's cainjector", func() error { return bundlesHold(ctx, ca2, ca1) })
		if err := dryRunCreate(ctx, apps); err != nil {
			t.Errorf("old certificate, old and new CA in the caBundle: %v", err)
		}
		mount()
		eventually(t, 10*time.Second, "certificate from the new CA served", func() error { return serves(r, leaf3) })
		eventually(t, 10*time.Second, "DaemonSet mutated with the new CA", func() error { return dryRunCreate(ctx, apps) })
		if n := r.metric(t, "daemonguard_certificate_reload_errors_total"); n != 0 {
			t.Errorf("%v certificate reload errors", n)
		}
	})
}

func mustCA(t testing.TB, name string) *certs.KeyPair {
	t.Helper()
	ca, err := certs.NewCA(name, time.Now(), 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// issueFor issues what the Certificate asks for, signed by ca.
func issueFor(t testing.TB, c *cmapi.Certificate, ca *certs.KeyPair) *certs.KeyPair {
	t.Helper()
	names := certs.ServingNames{DNSNames: c.Spec.DNSNames}
	for _, ip := range c.Spec.IPAddresses {
		names.IPs = append(names.IPs, net.ParseIP(ip))
	}
	validity := time.Hour
	if c.Spec.Duration != nil {
		validity = c.Spec.Duration.Duration
	}
	kp, err := certs.NewServing(ca, names, time.Now(), validity)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// secretData is a cert-manager Certificate Secret's data.
func secretData(ca, leaf *certs.KeyPair) map[string][]byte {
	return map[string][]byte{
		corev1.TLSCertKey:       leaf.CertPEM,
		corev1.TLSPrivateKeyKey: leaf.KeyPEM,
		cmmeta.TLSCAKey:         ca.CertPEM,
	}
}

// bundlesHold checks every webhook's caBundle holds each of cas.
func bundlesHold(ctx context.Context, cas ...*certs.KeyPair) error {
	bundles, err := caBundles(ctx)
	if err != nil {
		return err
	}
	for i, b := range bundles {
		held, err := certs.ParseCertificates(b)
		if err != nil {
			return fmt.Errorf("webhook %d: %v", i, err)
		}
		for _, ca := range cas {
			if !slices.ContainsFunc(held, ca.Cert.Equal) {
				return fmt.Errorf("webhook %d: CA %q not in its caBundle of %d", i, ca.Cert.Subject.CommonName, len(held))
			}
		}
	}
	return nil
}

func serves(r *replica, want *certs.KeyPair) error {
	got, err := r.served()
	if err != nil {
		return err
	}
	if !got.Equal(want.Cert) {
		return fmt.Errorf("serving serial %x, want %x", got.SerialNumber, want.Cert.SerialNumber)
	}
	return nil
}

// startCAInjector runs cert-manager's CA injector (what its cainjector
// binary runs, set up the same way) against the control plane until the
// test ends, injecting into webhook configurations.
func startCAInjector(t testing.TB) {
	t.Helper()
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, cmapi.AddToScheme, apiextensionsv1.AddToScheme, apiregistrationv1.AddToScheme} {
		if err := add(s); err != nil {
			t.Fatal(err)
		}
	}
	mgr, err := ctrl.NewManager(cmutil.RestConfigWithUserAgent(restCfg, "cainjector"), ctrl.Options{
		Scheme:                 s,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{ReaderFailOnMissingInformer: true},
		// As the cainjector binary: Secrets are read directly, not cached.
		Client:     client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := cainjector.RegisterAllInjectors(ctx, mgr, cainjector.SetupOptions{
		EnableCertificatesDataSource: true,
		EnabledReconcilersFor: map[string]bool{
			cainjector.MutatingWebhookConfigurationName:   true,
			cainjector.ValidatingWebhookConfigurationName: true,
		},
	}); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("cainjector: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("cainjector did not stop")
		}
	})
}
