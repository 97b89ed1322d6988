package certs_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/certs"
	"github.com/daemonguard/daemonguard/webhook"
)

const selfManagedManifest = "daemonguard-self-managed.yaml"

// selfManaged are the serve flags the self-managed manifest passes, plus
// the local address, which the API server calls here instead of the Service.
func selfManaged(l certs.Lifetimes) webhook.Options {
	return webhook.Options{
		Certificates: certs.ModeSelfManaged,
		SelfManaged: certs.RotatorOptions{
			SecretName: tlsSecret, ServiceName: "daemonguard", WebhookConfigurationName: configName,
			ExtraSANs: []string{"127.0.0.1", "localhost"}, Lifetimes: l,
		},
	}
}

func getTLSSecret(t testing.TB) (*corev1.Secret, *certs.Bundle) {
	t.Helper()
	s := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: webhookNamespace, Name: tlsSecret}, s); err != nil {
		t.Fatal(err)
	}
	b, problems := certs.ParseSecret(s)
	if len(problems) > 0 {
		t.Fatalf("stored Secret: %q", problems)
	}
	return s, b
}

// servesStored checks r presents the serving certificate stored in the
// Secret.
func servesStored(r *replica, stored *certs.Bundle) error {
	got, err := r.served()
	if err != nil {
		return err
	}
	if !got.Equal(stored.Serving.Cert) {
		return fmt.Errorf("replica %s serves serial %x, the Secret holds %x", r.name, got.SerialNumber, stored.Serving.Cert.SerialNumber)
	}
	return nil
}

// TestSelfManaged starts from a namespace without the Secret and the chart's
// webhook configurations without a caBundle, with two replicas running as
// the chart's ServiceAccount under exactly the chart's RBAC, up to a
// DaemonSet mutated through the API server; then restarts the webhook and
// checks it reuses the stored Secret.
func TestSelfManaged(t *testing.T) {
	ctx := context.Background()
	const apps = "apps-self-managed"
	createNamespace(t, apps)
	lb := newBalancer(t)
	m := loadManifest(t, selfManagedManifest, lb.URL())
	deleteAtEnd(t, &corev1.Secret{ObjectMeta: metaName(webhookNamespace, tlsSecret)})
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: webhookNamespace, Name: tlsSecret}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the Secret exists before the webhook starts: %v", err)
	}
	opts := selfManaged(certs.DefaultLifetimes)
	sa := asServiceAccount(restCfg)

	// A replica that cannot get a certificate yet (its RBAC is not there)
	// stays unready.
	a := startReplica(t, "a", sa, opts)
	time.Sleep(time.Second)
	if err := a.ready(); err == nil || !strings.Contains(err.Error(), "serving-certificate") {
		t.Fatalf("ready without a certificate: %v", err)
	}

	create(t, m.objects...)
	create(t, m.mutating, m.validating)
	b := startReplica(t, "b", sa, opts)
	lb.Set(a.port, b.port)
	start := time.Now()
	for _, r := range []*replica{a, b} {
		eventually(t, 30*time.Second, "replica "+r.name+" ready", r.ready)
	}
	t.Logf("both replicas ready %v after the RBAC was created", time.Since(start).Round(time.Millisecond))

	secret, stored := getTLSSecret(t)
	if secret.Type != corev1.SecretTypeTLS || len(secret.Data[certs.SecretCAPrivateKey]) == 0 {
		t.Errorf("Secret type %q, keys %v", secret.Type, keys(secret.Data))
	}
	for _, r := range []*replica{a, b} {
		if err := servesStored(r, stored); err != nil {
			t.Error(err)
		}
	}
	if err := allCABundles(ctx, stored.CABundle()); err != nil {
		t.Error(err)
	}
	eventually(t, 10*time.Second, "DaemonSet mutated through the API server", func() error { return dryRunCreate(ctx, apps) })
	for _, r := range []*replica{a, b} {
		if n := r.metric(t, "daemonguard_certificate_reloads_total"); n != 1 {
			t.Errorf("replica %s: %v certificate reloads, want 1", r.name, n)
		}
		if n := r.metric(t, "daemonguard_certificate_reload_errors_total"); n != 0 {
			t.Errorf("replica %s: %v certificate reload errors", r.name, n)
		}
		if got, want := r.metric(t, "daemonguard_serving_certificate_expiry_timestamp_seconds"), float64(stored.Serving.Cert.NotAfter.Unix()); got != want {
			t.Errorf("replica %s: expiry metric %v, want %v", r.name, got, want)
		}
	}

	t.Run("restart reuses the stored Secret", func(t *testing.T) {
		a.Stop(t)
		b.Stop(t)
		before, _ := getTLSSecret(t)
		// A new pod: a new, empty emptyDir.
		c := startReplica(t, "c", sa, opts)
		lb.Set(c.port)
		eventually(t, 30*time.Second, "restarted replica ready", c.ready)
		if err := servesStored(c, stored); err != nil {
			t.Error(err)
		}
		if err := dryRunCreate(ctx, apps); err != nil {
			t.Errorf("after the restart: %v", err)
		}
		after, _ := getTLSSecret(t)
		if after.ResourceVersion != before.ResourceVersion {
			t.Errorf("the restarted webhook wrote the Secret (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
		}
		if err := allCABundles(ctx, stored.CABundle()); err != nil {
			t.Error(err)
		}
		t.Logf("restarted replica serves the stored certificate (serial %x), Secret unchanged at resourceVersion %s", stored.Serving.Cert.SerialNumber, after.ResourceVersion)
	})
}

// TestSelfManagedRotationUnderLoad forces serving certificate renewals and
// CA rollovers with lifetimes of seconds while DaemonSet dry-run creates go
// through the API server (failurePolicy Fail) to two replicas behind a
// balancer; not one admission call may fail.
func TestSelfManagedRotationUnderLoad(t *testing.T) {
	ctx := context.Background()
	const apps = "apps-rotation"
	createNamespace(t, apps)
	l := certs.Lifetimes{
		CAValidity: 16 * time.Second, CARenewBefore: 8 * time.Second,
		Validity: 6 * time.Second, RenewBefore: 3 * time.Second,
		RolloverDelay: 1500 * time.Millisecond,
	}
	lb := newBalancer(t)
	m := loadManifest(t, selfManagedManifest, lb.URL())
	create(t, m.objects...)
	create(t, m.mutating, m.validating)
	deleteAtEnd(t, &corev1.Secret{ObjectMeta: metaName(webhookNamespace, tlsSecret)})
	sa := asServiceAccount(restCfg)
	replicas := []*replica{startReplica(t, "a", sa, selfManaged(l)), startReplica(t, "b", sa, selfManaged(l))}
	lb.Set(replicas[0].port, replicas[1].port)
	for _, r := range replicas {
		eventually(t, 30*time.Second, "replica "+r.name+" ready", r.ready)
	}
	eventually(t, 10*time.Second, "DaemonSet mutated through the API server", func() error { return dryRunCreate(ctx, apps) })
	reviewsBefore := 0.0
	for _, r := range replicas {
		reviewsBefore += r.metric(t, "daemonguard_admission_reviews_total")
	}

	const duration = 20 * time.Second
	loadStart := time.Now()
	loadCtx, stop := context.WithTimeout(ctx, duration)
	defer stop()
	var (
		creates, failed atomic.Int64
		handshakes, bad atomic.Int64
		mu              sync.Mutex
		errs            []string
		servingSerials  = map[string]bool{}
		caFingerprints  = map[string]bool{}
		maxCAsInBundle  int
		wg              sync.WaitGroup
	)
	record := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(errs) < 10 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := dryRunCreate(callCtx, apps)
				cancel()
				creates.Add(1)
				if err != nil {
					failed.Add(1)
					record("worker %d at +%v: %v", w, time.Since(loadStart).Round(time.Millisecond), err)
				}
			}
		}()
	}
	// New connections from API servers: fresh handshakes with each replica,
	// verified against the caBundle in the webhook configuration now, and
	// against the one it held apiServerLag ago, as an API server whose
	// watch lags sees it. A rollover must survive both; that is what the
	// rollover delay is for.
	const apiServerLag = time.Second
	// The caBundle's history, polled on its own so that a slow handshake
	// never delays noticing a change: each bundle with the earliest moment
	// it can have been in force (when the poll that still saw the one before
	// it was sent). Taking the earliest moment errs, by one poll at most,
	// toward a newer lagged view, never toward an older one that the
	// webhook was right not to serve for any more: a loaded machine slows
	// the polls, it does not fail the test.
	type seen struct {
		from time.Time
		pem  []byte
	}
	var (
		historyMu sync.Mutex
		history   []seen
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		prevSent := time.Now()
		for loadCtx.Err() == nil {
			sent := time.Now()
			bundles, err := caBundles(ctx)
			if err != nil {
				record("reading caBundle: %v", err)
				continue
			}
			historyMu.Lock()
			if len(history) == 0 || !bytes.Equal(history[len(history)-1].pem, bundles[0]) {
				history = append(history, seen{prevSent, bundles[0]})
			}
			historyMu.Unlock()
			prevSent = sent
			time.Sleep(10 * time.Millisecond)
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		handshake := func(r *replica, pem []byte, view string) {
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(pem)
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", r.port), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
			handshakes.Add(1)
			if err != nil {
				bad.Add(1)
				record("handshake with %s against the %s caBundle at +%v: %v", r.name, view, time.Since(loadStart).Round(time.Millisecond), err)
				return
			}
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			mu.Lock()
			servingSerials[leaf.SerialNumber.Text(16)] = true
			mu.Unlock()
		}
		for loadCtx.Err() == nil {
			bundles, err := caBundles(ctx)
			if err != nil {
				record("reading caBundle: %v", err)
				continue
			}
			now := time.Now()
			var lagged []byte
			historyMu.Lock()
			for _, h := range history {
				if !h.from.After(now.Add(-apiServerLag)) {
					lagged = h.pem
				}
			}
			historyMu.Unlock()
			cas, _ := certs.ParseCertificates(bundles[0])
			mu.Lock()
			maxCAsInBundle = max(maxCAsInBundle, len(cas))
			for _, ca := range cas {
				caFingerprints[certs.Fingerprint(ca)] = true
			}
			mu.Unlock()
			for _, r := range replicas {
				handshake(r, bundles[0], "current")
				if lagged != nil {
					handshake(r, lagged, apiServerLag.String()+"-old")
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	wg.Wait()

	reviews := -reviewsBefore
	reloads, reloadErrors := 0.0, 0.0
	for _, r := range replicas {
		reviews += r.metric(t, "daemonguard_admission_reviews_total")
		reloads += r.metric(t, "daemonguard_certificate_reloads_total")
		reloadErrors += r.metric(t, "daemonguard_certificate_reload_errors_total")
	}
	t.Logf("in %v: %d DaemonSet dry-run creates through the API server, %d failed; %.0f admission calls answered by the replicas; "+
		"%d verifying handshakes against the current and a %v-old caBundle, %d failed; %d serving certificates and %d CAs seen (up to %d CAs in the caBundle at once); %.0f certificate reloads, %.0f reload errors",
		duration, creates.Load(), failed.Load(), reviews, handshakes.Load(), apiServerLag, bad.Load(), len(servingSerials), len(caFingerprints), maxCAsInBundle, reloads, reloadErrors)
	for _, e := range errs {
		t.Error(e)
	}
	if failed.Load() > 0 || bad.Load() > 0 {
		t.Errorf("%d admission calls and %d handshakes failed during rotation (logs: %s)", failed.Load(), bad.Load(), logPath)
	}
	if creates.Load() < 20 {
		t.Errorf("only %d creates: the load did not run", creates.Load())
	}
	// 20s of 6s certificates renewed 3s before expiry, and of 16s CAs
	// renewed 8s before: several renewals, and at least one rollover.
	if len(servingSerials) < 4 || len(caFingerprints) < 2 || maxCAsInBundle < 2 {
		t.Errorf("rotation did not happen: %d serving certificates, %d CAs, at most %d CAs in the caBundle", len(servingSerials), len(caFingerprints), maxCAsInBundle)
	}
	if reloadErrors > 0 {
		t.Errorf("%v certificate reload errors", reloadErrors)
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
