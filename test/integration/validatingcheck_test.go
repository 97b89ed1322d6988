package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/test/internal/poll"
	"github.com/daemonguard/daemonguard/validators"
	"github.com/daemonguard/daemonguard/webhook"
)

// TestOutdatedValidatingConditionIsReported: an older chart's validating
// configuration (the condition of a rule set without hostport-surge) under
// this image would make the API server skip the webhook for what only that
// rule looks at (an UPDATE of a hostNetwork DaemonSet), and nothing fails.
// The running webhook says so within a minute: its gauge drops to 0 and a
// Warning Event names the configuration; once the configuration is current
// again, the gauge is 1.
func TestOutdatedValidatingConditionIsReported(t *testing.T) {
	ctx := context.Background()
	const gauge = "daemonguard_validating_match_conditions_current"
	waitGauge(t, gauge, 1)

	var older []validators.Definition
	for _, d := range validators.Registry() {
		if d.ID != "hostport-surge" {
			older = append(older, d)
		}
	}
	old := policy.ValidatingCondition(older).MatchConditions(precondition.RuleMayFire)
	current := setValidatingConditions(t, old)
	t.Cleanup(func() {
		setValidatingConditions(t, current)
		waitGauge(t, gauge, 1)
	})
	start := time.Now()

	waitGauge(t, gauge, 0)
	var found *eventsv1.Event
	for found == nil {
		var list eventsv1.EventList
		if err := env.Client.List(ctx, &list, client.InNamespace("default")); err != nil {
			t.Fatal(err)
		}
		for i := range list.Items {
			e := &list.Items[i]
			if e.Reason == webhook.ReasonMatchConditionsOutdated && e.Regarding.Kind == "ValidatingWebhookConfiguration" && e.Regarding.Name == "daemonguard" {
				found = e
			}
		}
		if time.Since(start) > time.Minute {
			t.Fatalf("no %s Event on the ValidatingWebhookConfiguration within a minute", webhook.ReasonMatchConditionsOutdated)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if found.Type != corev1.EventTypeWarning {
		t.Errorf("Event type %s, want Warning: %s", found.Type, found.Note)
	}
	t.Logf("reported after %s: %s", time.Since(start).Round(time.Second), found.Note)

	// Back to the current condition: reported current again.
	setValidatingConditions(t, current)
	waitGauge(t, gauge, 1)
}

// setValidatingConditions replaces daemonguard's matchConditions in the
// validating configuration and returns the ones it had.
func setValidatingConditions(t *testing.T, conds []admissionregistrationv1.MatchCondition) []admissionregistrationv1.MatchCondition {
	t.Helper()
	ctx := context.Background()
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "daemonguard"}, cfg); err != nil {
		t.Fatal(err)
	}
	before := cfg.Webhooks[0].MatchConditions
	cfg.Webhooks[0].MatchConditions = conds
	if err := env.Client.Update(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// The API server's webhook dispatcher picks up configuration changes
	// from its own informer.
	time.Sleep(time.Second)
	return before
}

// waitGauge waits up to a minute for the webhook's gauge to read want.
func waitGauge(t *testing.T, name string, want float64) {
	t.Helper()
	poll.Until(t, time.Minute, fmt.Sprintf("%s = %v", name, want), func() (bool, string) {
		got, ok, err := env.Gauge(name)
		if err != nil {
			t.Fatal(err)
		}
		return ok && got == want, fmt.Sprintf("%v (set: %v)", got, ok)
	})
}
