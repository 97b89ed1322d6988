package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/daemonguard/daemonguard/internal/policy"
)

// Many clients at once, over TLS, with good, bad and oversized reviews, while
// the policy file flips between two policies: every answer is well formed,
// nothing bad is admitted, and each verdict is one of the two policies'.
func TestConcurrentReviewsDuringReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	const head = "apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n"
	policies := []string{head, head + "validation:\n  rules:\n    privileged-container: enforce\n"}
	if err := os.WriteFile(path, []byte(policies[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewPolicySource(path, policy.Options{}, m, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Watch(ctx, 2*time.Millisecond)
	mux := http.NewServeMux()
	mux.Handle(ValidatePath, NewValidatingHandler(src.Current, m, logr.Discard()))
	server := httptest.NewTLSServer(mux)
	defer server.Close()

	privileged := reviewBody(t, "CREATE", json.RawMessage(`{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"p"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i","securityContext":{"privileged":true}}]}}}}`), nil)
	socket := reviewBody(t, "CREATE", json.RawMessage(`{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"s"},"spec":{"template":{"spec":{"containers":[{"name":"c","image":"i","volumeMounts":[{"name":"v","mountPath":"/s","readOnly":true}]}],"volumes":[{"name":"v","hostPath":{"path":"/run/containerd"}}]}}}}`), nil)
	garbage := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"g","kind":{"group":"apps","version":"v1","kind":"DaemonSet"},"operation":"CREATE","object":{"spec":{"template":{"spec":{"containers":"no"}}}}}}`)
	oversized := bytes.Repeat([]byte("x"), DefaultMaxRequestBytes+1)

	flips := make(chan struct{})
	go func() {
		defer close(flips)
		for i := 0; i < 40; i++ {
			tmp := filepath.Join(dir, "next")
			os.WriteFile(tmp, []byte(policies[i%2]), 0o644)
			os.Rename(tmp, path)
			time.Sleep(5 * time.Millisecond)
		}
	}()

	client := server.Client()
	var warned, deniedPrivileged, requests atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 60; i++ {
				var body []byte
				switch (w + i) % 4 {
				case 0:
					body = privileged
				case 1:
					body = socket
				case 2:
					body = garbage
				default:
					if i%15 == 3 {
						body = oversized
					} else {
						body = socket
					}
				}
				requests.Add(1)
				resp, err := client.Post(server.URL+ValidatePath, "application/json", bytes.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				var review admissionv1.AdmissionReview
				decodeErr := json.NewDecoder(resp.Body).Decode(&review)
				resp.Body.Close()
				switch {
				case len(body) > DefaultMaxRequestBytes:
					if resp.StatusCode != http.StatusRequestEntityTooLarge {
						errs <- fmt.Errorf("oversized: HTTP %d", resp.StatusCode)
					}
					continue
				case decodeErr != nil || resp.StatusCode != 200:
					errs <- fmt.Errorf("HTTP %d, decode %v", resp.StatusCode, decodeErr)
					return
				}
				r := review.Response
				switch {
				case bytes.Equal(body, garbage) || bytes.Equal(body, socket):
					if r.Allowed {
						errs <- fmt.Errorf("admitted what must be denied: %s", body[:80])
					}
				case bytes.Equal(body, privileged):
					if r.Allowed && len(r.Warnings) == 1 {
						warned.Add(1)
					} else if !r.Allowed {
						deniedPrivileged.Add(1)
					} else {
						errs <- fmt.Errorf("privileged admitted without a warning: %+v", r)
					}
				}
			}
		}(w)
	}
	wg.Wait()
	<-flips
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	t.Logf("%d requests; privileged: %d warned, %d denied (the policy flipped meanwhile)", requests.Load(), warned.Load(), deniedPrivileged.Load())
}
