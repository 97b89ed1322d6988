package faults

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/internal/precondition"
)

// TestMatchConditionsWithChartRBAC: a replica running with exactly the
// chart's RBAC writes the mutating webhook's matchCondition, and rewrites it
// when the policy gains a default toleration; once the chart turns the
// condition off (--mutating-match-condition=always), the next replica
// removes it.
func TestMatchConditionsWithChartRBAC(t *testing.T) {
	first := replicas(t, 1, replicaOptions{})[0]
	condition := func() string {
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Name: shipped.mutating.Name}, cfg); err != nil {
			t.Fatal(err)
		}
		for _, c := range cfg.Webhooks[0].MatchConditions {
			if c.Name == precondition.MutatorMayAct {
				return c.Expression
			}
		}
		return ""
	}
	waitFor(t, "the mutating matchCondition written", func() bool { return condition() != "" })
	writePolicy(t, basePolicy+"mutation:\n  tolerations:\n    defaults:\n      - {key: example.com/dedicated, operator: Exists}\n")
	t.Cleanup(func() { writePolicy(t, basePolicy) })
	waitFor(t, "the matchCondition following the new policy", func() bool {
		return strings.Contains(condition(), `"example.com/dedicated"`)
	})

	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.waitExit(10 * time.Second)
	startReplica(t, "always", replicaOptions{extra: []string{"--mutating-match-condition=always"}}).waitReady(t)
	waitFor(t, "the matchCondition removed", func() bool { return condition() == "" })
}
