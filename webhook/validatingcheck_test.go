package webhook

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// events records what the check emits.
type events struct {
	mu      sync.Mutex
	reasons []string
}

func (e *events) Eventf(_, _ runtime.Object, _, reason, _, note string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reasons = append(e.reasons, reason+": "+fmt.Sprintf(note, args...))
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.reasons...)
}

func TestValidatingCheck(t *testing.T) {
	want := admissionregistrationv1.MatchCondition{Name: "daemonguard-rule-may-fire", Expression: "new"}
	admin := admissionregistrationv1.MatchCondition{Name: "admin-added", Expression: "true"}
	for name, tc := range map[string]struct {
		have    []admissionregistrationv1.MatchCondition
		missing bool
		current bool
	}{
		"the built condition":         {have: []admissionregistrationv1.MatchCondition{admin, want}, current: true},
		"none: every request is sent": {have: []admissionregistrationv1.MatchCondition{admin}, current: true},
		"an older chart's condition":  {have: []admissionregistrationv1.MatchCondition{{Name: want.Name, Expression: "old"}}},
		"no configuration to read":    {missing: true},
	} {
		t.Run(name, func(t *testing.T) {
			cs := fake.NewClientset()
			if !tc.missing {
				cs = fake.NewClientset(&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "daemonguard"},
					Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "validate.daemonguard.io", MatchConditions: tc.have}}})
			}
			m, err := NewMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			ev := &events{}
			c := &validatingCheck{name: "daemonguard", want: want, configurations: cs.AdmissionregistrationV1().ValidatingWebhookConfigurations(), events: ev, every: time.Hour, metrics: m, log: logr.Discard()}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error)
			go func() { done <- c.Start(ctx) }()
			// The first check runs at once.
			deadline := time.Now().Add(10 * time.Second)
			for testutil.ToFloat64(m.validatingOK) != boolGauge(tc.current) || (!tc.current && !tc.missing && len(ev.list()) == 0) {
				if time.Now().After(deadline) {
					t.Fatalf("gauge %v, events %v; want current=%v", testutil.ToFloat64(m.validatingOK), ev.list(), tc.current)
				}
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			got := ev.list()
			switch {
			case tc.current && len(got) > 0:
				t.Errorf("events for a current configuration: %v", got)
			case !tc.current && !tc.missing && (len(got) != 1 || got[0][:len(ReasonMatchConditionsOutdated)] != ReasonMatchConditionsOutdated):
				t.Errorf("events %v, want one %s", got, ReasonMatchConditionsOutdated)
			}
		})
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TestValidatingCheckTransitions: an outdated configuration is reported
// once (not at every check), and its repair once more.
func TestValidatingCheckTransitions(t *testing.T) {
	want := admissionregistrationv1.MatchCondition{Name: "daemonguard-rule-may-fire", Expression: "new"}
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "daemonguard"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "validate.daemonguard.io",
			MatchConditions: []admissionregistrationv1.MatchCondition{{Name: want.Name, Expression: "old"}}}}}
	cl := fake.NewClientset(cfg).AdmissionregistrationV1().ValidatingWebhookConfigurations()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ev := &events{}
	c := &validatingCheck{name: "daemonguard", want: want, configurations: cl, events: ev, every: 5 * time.Millisecond, metrics: m, log: logr.Discard()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = c.Start(ctx) }()
	wait := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(ev.list()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("events %v, want %d", ev.list(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait(1)
	time.Sleep(50 * time.Millisecond) // ten more checks
	if got := ev.list(); len(got) != 1 {
		t.Fatalf("an outdated configuration reported %d times: %v", len(got), got)
	}
	cfg.Webhooks[0].MatchConditions = []admissionregistrationv1.MatchCondition{want}
	if _, err := cl.Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wait(2)
	if got := ev.list(); got[1][:len(ReasonMatchConditionsCurrent)] != ReasonMatchConditionsCurrent {
		t.Errorf("after the repair: %v", got)
	}
	if testutil.ToFloat64(m.validatingOK) != 1 {
		t.Error("gauge not back to 1")
	}
}
