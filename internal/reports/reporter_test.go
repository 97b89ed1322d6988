package reports

import (
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/util/workqueue"
)

// TestSyncedTimeAdvancesOnlyWhenCurrent: the Reports' sync time moves only
// while nothing is queued, being reconciled or failing, so a namespace stuck
// in retries makes it stale however quiet the queue looks.
func TestSyncedTimeAdvancesOnlyWhenCurrent(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReporter(nil, Options{Metrics: m})
	r.queue = workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer r.queue.ShutDown()
	synced := func() float64 { return testutil.ToFloat64(m.synced) }
	at := func(s int64) time.Time { return time.Unix(s, 0) }

	if synced() != 0 {
		t.Fatalf("sync time %v before any tick, want 0", synced())
	}
	r.noteSynced(at(100))
	if synced() != 100 {
		t.Fatalf("idle Reporter: sync time %v, want 100", synced())
	}
	r.queue.Add("ns")
	r.noteSynced(at(200))
	if synced() != 100 {
		t.Errorf("namespace queued: sync time %v, want it held at 100", synced())
	}
	ns, _ := r.queue.Get()
	r.started()
	r.noteSynced(at(300))
	if synced() != 100 {
		t.Errorf("namespace in flight: sync time %v, want 100", synced())
	}
	r.finished(ns, errors.New("the API server refused"))
	r.queue.Done(ns)
	r.noteSynced(at(400))
	if synced() != 100 {
		t.Errorf("namespace failing (waiting out its backoff, not queued): sync time %v, want 100", synced())
	}
	r.started()
	r.finished(ns, nil)
	r.noteSynced(at(500))
	if synced() != 500 {
		t.Errorf("all current again: sync time %v, want 500", synced())
	}
}
