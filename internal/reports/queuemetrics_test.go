package reports

import (
	"testing"

	"k8s.io/client-go/util/workqueue"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// A queue made as the Reporter makes its own shows on serve's /metrics (the
// registry controller-runtime's metrics server serves): make bench-scale and
// operators read the Reporter's progress there.
func TestQueueMetricsAreExported(t *testing.T) {
	q := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "daemonguard-reports-test"})
	defer q.ShutDown()
	q.Add("ns")
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "workqueue_adds_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "name" && l.GetValue() == "daemonguard-reports-test" && m.GetCounter().GetValue() == 1 {
					return
				}
			}
		}
	}
	t.Fatal(`no workqueue_adds_total{name="daemonguard-reports-test"} 1 in the registry /metrics serves`)
}
