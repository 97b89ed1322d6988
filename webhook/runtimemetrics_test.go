package webhook

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// serve's /metrics has the process and Go runtime metrics a platform team
// graphs (resident memory, CPU, goroutines, heap), registered once however
// often asked.
func TestRuntimeMetricsAreRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		if err := registerRuntimeMetrics(reg); err != nil {
			t.Fatal(err)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range families {
		have[f.GetName()] = true
	}
	for _, name := range []string{"process_resident_memory_bytes", "process_cpu_seconds_total", "go_goroutines", "go_memstats_heap_inuse_bytes", "go_gc_duration_seconds"} {
		if !have[name] {
			t.Errorf("no %s", name)
		}
	}
}
