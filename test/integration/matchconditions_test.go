package integration

import (
	"context"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/internal/precondition"
)

// reviews counts the admission reviews each webhook has answered.
func reviews(t *testing.T) (mutate, validate float64) {
	t.Helper()
	mutate, validate, err := env.Reviews()
	if err != nil {
		t.Fatal(err)
	}
	return mutate, validate
}

// hops sends do through the API server and returns how many times it
// called each webhook.
func hops(t *testing.T, do func() error) (mutate, validate float64) {
	t.Helper()
	m0, v0 := reviews(t)
	if err := do(); err != nil {
		t.Fatal(err)
	}
	m1, v1 := reviews(t)
	return m1 - m0, v1 - v0
}

// TestCompliantReapplyCostsNoHop: with the shipped configurations and the
// condition the webhook writes, the API server calls daemonguard only when
// something could happen: a compliant DaemonSet without host access costs no
// hop when re-applied, one with host access costs the validating hop only,
// and a policy change that gives the first something to do reaches the
// configuration and mutates it.
func TestCompliantReapplyCostsNoHop(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t)
	waitMutatingCondition(t, basePolicy)

	plain := daemonSet(ns, "plain", nil)
	if m, v := hops(t, func() error { return c.Create(ctx, plain) }); m != 1 || v != 1 {
		t.Fatalf("create needing defaults: %v mutating and %v validating calls, want 1 and 1", m, v)
	}
	if plain.Spec.Template.Spec.PriorityClassName == "" {
		t.Fatal("create was not mutated")
	}
	if m, v := hops(t, func() error { return c.Update(ctx, plain) }); m != 0 || v != 0 {
		t.Errorf("compliant re-apply without host access: %v mutating and %v validating calls, want none", m, v)
	}
	plain.Spec.Template.Spec.Containers[0].Image = "agent:2"
	if m, v := hops(t, func() error { return c.Update(ctx, plain) }); m != 0 || v != 1 {
		t.Errorf("image bump: %v mutating and %v validating calls, want 0 and 1 (the node-aware rules judge the new template)", m, v)
	}

	logs := daemonSet(ns, "logs", func(s *corev1.PodSpec) {
		s.Volumes = []corev1.Volume{hostPathVolume("logs", "/var/log")}
		s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "logs", MountPath: "/var/log", ReadOnly: true}}
	})
	if err := c.Create(ctx, logs); err != nil {
		t.Fatal(err)
	}
	if m, v := hops(t, func() error { return c.Update(ctx, logs) }); m != 0 || v != 1 {
		t.Errorf("compliant re-apply with host access: %v mutating and %v validating calls, want 0 and 1", m, v)
	}

	// A new default toleration: the webhook rewrites the condition, and the
	// re-apply that cost nothing now gets it.
	setPolicy(t, basePolicy+`mutation:
  tolerations:
    defaults:
      - {key: node-role.kubernetes.io/control-plane, operator: Exists, effect: NoSchedule}
      - {key: example.com/dedicated, operator: Exists}
`, func() bool { return true })
	var got *appsv1.DaemonSet
	if m, _ := hops(t, func() error { got = plain.DeepCopy(); return c.Update(ctx, got) }); m != 1 {
		t.Errorf("re-apply after a new default toleration: %v mutating calls, want 1", m)
	}
	if !tolerates(got, "example.com/dedicated") {
		t.Errorf("the new default toleration was not added: %v", got.Spec.Template.Spec.Tolerations)
	}

	cfg := liveMutatingConditions(t)
	if len(cfg) != 1 || cfg[0].Name != precondition.MutatorMayAct {
		t.Errorf("mutating webhook matchConditions %v, want one named %s", cfg, precondition.MutatorMayAct)
	}
}

func tolerates(ds *appsv1.DaemonSet, key string) bool {
	for _, tol := range ds.Spec.Template.Spec.Tolerations {
		if tol.Key == key {
			return true
		}
	}
	return false
}

func liveMutatingConditions(t *testing.T) []admissionregistrationv1.MatchCondition {
	t.Helper()
	got := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "daemonguard"}, got); err != nil {
		t.Fatal(err)
	}
	return got.Webhooks[0].MatchConditions
}
