package reports

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The Reporter's queue shows in the registry serve gives it (the one its
// /metrics serves) under controller-runtime's workqueue metric names and
// labels: dashboards, alerts and make bench-scale read the Reporter's
// progress there.
func TestQueueMetricsAreExported(t *testing.T) {
	reg := prometheus.NewRegistry()
	q := NewReporter(nil, Options{QueueMetrics: reg}).newQueue()
	defer q.ShutDown()
	q.Add("ns")

	families := gather(t, reg)
	for name, labels := range map[string][]string{
		"workqueue_depth":                             {"controller", "name", "priority"},
		"workqueue_adds_total":                        {"controller", "name"},
		"workqueue_queue_duration_seconds":            {"controller", "name"},
		"workqueue_work_duration_seconds":             {"controller", "name"},
		"workqueue_unfinished_work_seconds":           {"controller", "name"},
		"workqueue_longest_running_processor_seconds": {"controller", "name"},
		"workqueue_retries_total":                     {"controller", "name"},
	} {
		f := families[name]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Errorf("%s: %v, want one series", name, f)
			continue
		}
		m := f.GetMetric()[0]
		var got []string
		for _, l := range m.GetLabel() {
			got = append(got, l.GetName())
			want := queueName
			if l.GetName() == "priority" {
				want = ""
			}
			if l.GetValue() != want {
				t.Errorf("%s{%s=%q}, want %q", name, l.GetName(), l.GetValue(), want)
			}
		}
		if !slices.Equal(got, labels) {
			t.Errorf("%s labels %v, want %v", name, got, labels)
		}
	}
	if v := families["workqueue_adds_total"].GetMetric()[0].GetCounter().GetValue(); v != 1 {
		t.Errorf("workqueue_adds_total = %v, want 1", v)
	}
	if v := families["workqueue_depth"].GetMetric()[0].GetGauge().GetValue(); v != 1 {
		t.Errorf("workqueue_depth = %v, want 1", v)
	}
	if f := families["workqueue_queue_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM ||
		len(f.GetMetric()[0].GetHistogram().GetBucket()) != 12 || f.GetMetric()[0].GetHistogram().GetBucket()[0].GetUpperBound() != 10e-9 {
		t.Errorf("workqueue_queue_duration_seconds: want controller-runtime's 12 buckets from 10ns: %v", f)
	}
	if f := families["workqueue_adds_total"]; f.GetHelp() != "Total number of adds handled by workqueue" {
		t.Errorf("workqueue_adds_total help %q", f.GetHelp())
	}
}

// Two Reporters on one registry (several webhooks in one process) share
// the metrics rather than fail to register them; without a registry none
// are registered.
func TestQueueMetricsShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := NewReporter(nil, Options{QueueMetrics: reg}).newQueue()
	defer a.ShutDown()
	b := NewReporter(nil, Options{QueueMetrics: reg}).newQueue()
	defer b.ShutDown()
	a.Add("a")
	b.Add("b")
	if v := gather(t, reg)["workqueue_adds_total"].GetMetric()[0].GetCounter().GetValue(); v != 2 {
		t.Errorf("workqueue_adds_total = %v, want 2 (one series, both queues)", v)
	}

	none := NewReporter(nil, Options{}).newQueue()
	defer none.ShutDown()
	none.Add("c")
	if v := gather(t, reg)["workqueue_adds_total"].GetMetric()[0].GetCounter().GetValue(); v != 2 {
		t.Errorf("a Reporter without a registry counted in another's: %v", v)
	}
}

func gather(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, f := range mfs {
		out[f.GetName()] = f
	}
	return out
}
