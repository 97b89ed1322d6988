package webhook

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
)

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.Metric[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

func TestPolicySourceReloads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	write := func(s string) {
		// Like a ConfigMap volume: a new file swapped in, not edited in place.
		tmp := filepath.Join(dir, "new")
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	const head = "apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n"
	write(head)
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewPolicySource(path, policy.Options{}, m, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	first := src.Current()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Watch(ctx, 10*time.Millisecond)

	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	write(head + "validation:\n  rules:\n    privileged-container: enforce\n")
	waitUntil("the new policy", func() bool { return src.Current() != first })
	second := src.Current()
	if second.Source().Action("privileged-container", config.Warn) != config.Enforce {
		t.Fatal("the reloaded policy is not the new file")
	}
	if gauge(t, reg, "daemonguard_policy_last_reload_successful") != 1 {
		t.Fatal("last reload should be successful")
	}

	// A bad file never replaces the good policy, and says so in the gauge.
	write(head + "validation:\n  rules:\n    privileged-container: maybe\n")
	waitUntil("the failure gauge", func() bool { return gauge(t, reg, "daemonguard_policy_last_reload_successful") == 0 })
	if src.Current() != second {
		t.Fatal("a bad file replaced the policy in force")
	}
	// So does a file that disappears.
	os.Remove(path)
	time.Sleep(50 * time.Millisecond)
	if src.Current() != second {
		t.Fatal("a missing file replaced the policy in force")
	}
	// And a good file again is taken.
	write(head)
	waitUntil("recovery", func() bool { return gauge(t, reg, "daemonguard_policy_last_reload_successful") == 1 })
	if src.Current() == second || src.Current().Source().Action("privileged-container", config.Warn) != config.Warn {
		t.Fatal("the good file was not taken")
	}
}

func TestPolicySourceRefusesABadFirstFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(path, []byte("apiVersion: daemonguard.io/v1alpha1\nkind: Policy\nsurprise: true\n"), 0o644)
	if _, err := NewPolicySource(path, policy.Options{}, nil, logr.Discard()); err == nil {
		t.Fatal("a bad policy file at start must be an error")
	}
	if _, err := NewPolicySource(filepath.Join(t.TempDir(), "missing.yaml"), policy.Options{}, nil, logr.Discard()); err == nil {
		t.Fatal("a missing policy file at start must be an error")
	}
}

// TestPolicySourceRefusesAnOversizedFile: a file over MaxPolicyBytes is
// refused at start and, later, keeps the policy in force, without being
// parsed.
func TestPolicySourceRefusesAnOversizedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	const head = "apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n"
	huge := head + "# " + strings.Repeat("x", MaxPolicyBytes) + "\n"
	os.WriteFile(path, []byte(huge), 0o644)
	_, err := NewPolicySource(path, policy.Options{}, nil, logr.Discard())
	if err == nil || !strings.Contains(err.Error(), "over 1048576 bytes") {
		t.Fatalf("start with an oversized file: %v", err)
	}

	os.WriteFile(path, []byte(head+"validation:\n  rules:\n    privileged-container: enforce\n"), 0o644)
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewPolicySource(path, policy.Options{}, m, logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	good := src.Current()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go src.Watch(ctx, 5*time.Millisecond)
	os.WriteFile(path, []byte(huge), 0o644)
	time.Sleep(100 * time.Millisecond)
	if src.Current() != good {
		t.Fatal("an oversized file replaced the policy in force")
	}
}
