package benche2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"

	"github.com/daemonguard/daemonguard/test/dstest"
)

// The checks below run in plain `go test` (milliseconds, no control plane):
// they keep the benchmark's objects what its report says they are.

func TestAnchorPoliciesDecode(t *testing.T) {
	if err := new(admission).readAnchor(filepath.Join("testdata", "anchor-policies.yaml")); err != nil {
		t.Fatal(err)
	}
}

func TestScenarioObjects(t *testing.T) {
	p, err := policy.New(config.Defaults(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		ds         *appsv1.DaemonSet
		hostAccess bool
		allowed    bool
	}{
		"first apply and compliant re-apply with host access": {seed(t, "node-exporter.yaml"), true, true},
		"compliant re-apply without host access":              {seed(t, "gpu-monitor.yaml"), false, true},
		"growth, 100 containers":                              {dstest.ManyContainers(100), true, true},
		"the probe every guarded arm must deny":               {hostile(), true, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := hostAccess(&tc.ds.Spec.Template.Spec); got != tc.hostAccess {
				t.Errorf("host access %v, want %v", got, tc.hostAccess)
			}
			ds := tc.ds.DeepCopy()
			if m := p.Mutate(context.Background(), createNamespace, ds); len(m.Changed) == 0 {
				t.Error("the default policy changes nothing: the first apply would not need mutation")
			}
			if v := p.Validate(context.Background(), createNamespace, nil, ds); v.Allowed() != tc.allowed {
				t.Errorf("allowed %v, want %v: %v", v.Allowed(), tc.allowed, v.Denials())
			}
			if m := p.Mutate(context.Background(), createNamespace, ds.DeepCopy()); len(m.Changed) != 0 {
				t.Errorf("not compliant once mutated: a re-apply would change %v", m.Changed)
			}
		})
	}
}

func TestBenchLines(t *testing.T) {
	lines := strings.Join(newResults(settings{}).benchLines(), "\n") + "\n"
	for _, name := range []string{"e2e_first_apply_ratio", "e2e_compliant_hostaccess_ratio", "e2e_compliant_ratio",
		"e2e_throughput_ratio", "serve_rss_mib", "e2e_first_apply_vs_null", "serve_cpu_ms_per_create", "null_cpu_ms_per_create", "apiserver_cpu_ms_per_create", "apiserver_cpu_ms_per_create_null", "e2e_growth_100_ratio", "inprocess_ns_per_container_100"} {
		if !strings.Contains(lines, "BENCH "+name+" ") {
			t.Errorf("no BENCH %s line in\n%s", name, lines)
		}
	}
}
