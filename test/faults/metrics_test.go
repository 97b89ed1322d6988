package faults

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMetricsAuth scrapes a replica's /metrics the way Prometheus would,
// through the real API server's TokenReview and SubjectAccessReview, with the
// RBAC the chart ships: no token is refused (401), a ServiceAccount not bound
// to the metrics-reader role is refused (403), one bound to it reads the
// metrics. With --metrics-secure=false metrics are plain HTTP for anyone.
func TestMetricsAuth(t *testing.T) {
	ctx := context.Background()
	r := replicas(t, 1, replicaOptions{})[0]
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	https := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	url := fmt.Sprintf("https://127.0.0.1:%d/metrics", r.metrics)

	scrape := func(token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := https.Do(req)
		if err != nil {
			t.Fatalf("scraping %s: %v", url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	anonymous, _ := scrape("")
	if anonymous != http.StatusUnauthorized {
		t.Errorf("scrape without a token: HTTP %d, want 401", anonymous)
	}
	// controller-runtime's filter answers 500 when the TokenReview comes
	// back with an error ("invalid bearer token"), 401 when it comes back
	// unauthenticated without one: refused either way.
	forged, body := scrape("not-a-token")
	if (forged != http.StatusUnauthorized && forged != http.StatusInternalServerError) || strings.Contains(body, "daemonguard_") {
		t.Errorf("scrape with a forged token: HTTP %d, want it refused", forged)
	}
	// Two ServiceAccounts: a stranger, and the scraper bound to the reader
	// role (the filter caches a denial per user for 30s, so the two are
	// different users rather than one bound halfway).
	const scraperNS, scraper, stranger = "monitoring", "prometheus", "stranger"
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: scraperNS}}); err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{}
	for _, name := range []string{scraper, stranger} {
		if err := k8s.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: scraperNS, Name: name}}); err != nil {
			t.Fatal(err)
		}
		token, err := saToken(ctx, scraperNS, name)
		if err != nil {
			t.Fatal(err)
		}
		tokens[name] = token
	}
	unbound, _ := scrape(tokens[stranger])
	if unbound != http.StatusForbidden {
		t.Errorf("scrape by an unbound ServiceAccount: HTTP %d, want 403", unbound)
	}

	// The chart's reader role, bound to the scraper.
	reader := &rbacv1.ClusterRole{}
	if err := k8s.Get(ctx, clientKey("daemonguard-metrics-reader"), reader); err != nil {
		t.Fatalf("the chart's metrics-reader ClusterRole: %v", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "prometheus-daemonguard-metrics"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: scraperNS, Name: scraper}},
	}
	if err := k8s.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, binding) })
	// RBAC reaches the authorizer's informers within moments.
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := scrape(tokens[scraper])
		if code == http.StatusOK {
			if !strings.Contains(body, "daemonguard_policy_last_reload_successful") {
				t.Errorf("authorized scrape has no daemonguard metrics:\n%.500s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("scrape by a ServiceAccount bound to %s: HTTP %d, want 200", reader.Name, code)
		}
		time.Sleep(500 * time.Millisecond)
	}
	bench(t, "metrics_status_without_token", anonymous)
	bench(t, "metrics_status_forged_token", forged)
	bench(t, "metrics_status_unbound_serviceaccount", unbound)
	bench(t, "metrics_status_reader_serviceaccount", http.StatusOK)

	// The documented plain option.
	plain := startReplica(t, "plain", replicaOptions{extra: []string{"--metrics-secure=false"}})
	plain.waitReady(t)
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", plain.metrics))
	if err != nil {
		t.Fatal(err)
	}
	plainBody, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(plainBody), "daemonguard_policy_last_reload_successful") {
		t.Errorf("--metrics-secure=false: HTTP %d, want 200 with daemonguard's metrics", resp.StatusCode)
	}
}
