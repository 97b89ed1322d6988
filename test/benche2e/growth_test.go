package benche2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/webhook"
)

// inProcessNs is what one first apply of ds costs daemonguard in process, in
// ns: the mutating review of ds as the API server sends it, then the
// validating review of the mutated object, each through the handler serve
// runs (decode, policy, encode), without the network and TLS.
func inProcessNs(tb testing.TB, ds *appsv1.DaemonSet) float64 {
	tb.Helper()
	p, err := policy.New(config.Defaults(), policy.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := webhook.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	current := func() *policy.Policy { return p }
	mutate := webhook.NewMutatingHandler(current, m, logr.Discard())
	validate := webhook.NewValidatingHandler(current, m, logr.Discard())
	mutated := ds.DeepCopy()
	if len(p.Mutate(context.Background(), ds.Namespace, mutated).Changed) == 0 {
		tb.Fatalf("%s: the policy changes nothing, the growth figures would miss the mutation", ds.Name)
	}
	mutateBody := dstest.ReviewBody(tb, admissionv1.Create, ds.Namespace, marshal(tb, ds), nil)
	validateBody := dstest.ReviewBody(tb, admissionv1.Create, ds.Namespace, marshal(tb, mutated), nil)
	if code := post(mutate, mutateBody); code != http.StatusOK {
		tb.Fatalf("mutate: HTTP %d", code)
	}
	if code := post(validate, validateBody); code != http.StatusOK {
		tb.Fatalf("validate: HTTP %d", code)
	}
	// testing.Benchmark cannot run inside a benchmark (it waits for the
	// one running): the median of five timed half-second loops instead.
	runs := make([]time.Duration, 5)
	for i := range runs {
		n, start := 0, time.Now()
		for ; time.Since(start) < 500*time.Millisecond; n++ {
			post(mutate, mutateBody)
			post(validate, validateBody)
		}
		runs[i] = time.Since(start) / time.Duration(n)
	}
	return float64(percentile(runs, 0.5))
}

func post(h http.Handler, body []byte) int {
	req := httptest.NewRequest(http.MethodPost, "/", io.NopCloser(bytes.NewReader(body)))
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code
}

func marshal(tb testing.TB, v any) []byte {
	tb.Helper()
	out, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
