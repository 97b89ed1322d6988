package benche2e

import (
	"context"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// sequential runs do warmup times unmeasured, then n times timed, one
// request after the other on cs's one connection.
func sequential(ctx context.Context, tb testing.TB, cs *kubernetes.Clientset, do func(context.Context, *kubernetes.Clientset) error, warmup, n int) []time.Duration {
	tb.Helper()
	for range warmup {
		if err := do(ctx, cs); err != nil {
			tb.Fatal(err)
		}
	}
	out := make([]time.Duration, n)
	for i := range out {
		start := time.Now()
		if err := do(ctx, cs); err != nil {
			tb.Fatal(err)
		}
		out[i] = time.Since(start)
	}
	return out
}

// throughput runs do from clients concurrent clients, each on its own
// connection, for d, and returns completed requests per second and their
// number. The
// clients connect and send one request each before the clock starts.
func throughput(ctx context.Context, tb testing.TB, cfg *rest.Config, do func(context.Context, *kubernetes.Clientset) error, clients int, d time.Duration) (float64, int64) {
	tb.Helper()
	css := make([]*kubernetes.Clientset, clients)
	for i := range css {
		var err error
		if css[i], err = kubernetes.NewForConfig(clientConfig(cfg)); err != nil {
			tb.Fatal(err)
		}
		if err := do(ctx, css[i]); err != nil {
			tb.Fatal(err)
		}
	}
	var done, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for _, cs := range css {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if err := do(ctx, cs); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		tb.Fatalf("%d requests failed under load, the first: %v", n, firstErr.Load())
	}
	for _, cs := range css {
		if t, ok := cs.AppsV1().RESTClient().(*rest.RESTClient); ok {
			t.Client.CloseIdleConnections()
		}
	}
	return float64(done.Load()) / elapsed.Seconds(), done.Load()
}

// percentile is the nearest-rank q-quantile (0 < q <= 1) of xs.
func percentile(xs []time.Duration, q float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(i, 0)]
}
