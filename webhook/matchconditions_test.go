package webhook

import (
	"context"
	"testing"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

func TestConditionSyncer(t *testing.T) {
	ctx := context.Background()
	admin := admissionregistrationv1.MatchCondition{Name: "admin-added", Expression: "true"}
	p, err := policy.New(config.Defaults(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := p.MutatingCondition().MatchConditions(precondition.MutatorMayAct)
	for name, tc := range map[string]struct {
		always bool
		have   []admissionregistrationv1.MatchCondition
		want   []admissionregistrationv1.MatchCondition
	}{
		"written":                    {have: nil, want: want},
		"kept beside an admin's":     {have: []admissionregistrationv1.MatchCondition{admin}, want: append([]admissionregistrationv1.MatchCondition{admin}, want...)},
		"replaced when stale":        {have: []admissionregistrationv1.MatchCondition{{Name: precondition.MutatorMayAct, Expression: "false"}}, want: want},
		"removed with always":        {always: true, have: append([]admissionregistrationv1.MatchCondition{admin}, want...), want: []admissionregistrationv1.MatchCondition{admin}},
		"nothing to remove (always)": {always: true, have: nil, want: nil},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "daemonguard"},
				Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "mutate.daemonguard.io", MatchConditions: tc.have}}}
			c := fake.NewClientset(cfg).AdmissionregistrationV1().MutatingWebhookConfigurations()
			s := &conditionSyncer{name: "daemonguard", always: tc.always, configurations: c, log: logr.Discard()}
			for range 2 { // the second pass finds nothing to change
				if err := s.sync(ctx, p); err != nil {
					t.Fatal(err)
				}
			}
			got, err := c.Get(ctx, "daemonguard", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if conds := got.Webhooks[0].MatchConditions; len(conds) != len(tc.want) || (len(conds) > 0 && !equalConditions(conds, tc.want)) {
				t.Errorf("matchConditions %v, want %v", conds, tc.want)
			}
		})
	}
	t.Run("missing configuration", func(t *testing.T) {
		c := fake.NewClientset().AdmissionregistrationV1().MutatingWebhookConfigurations()
		s := &conditionSyncer{name: "daemonguard", configurations: c, log: logr.Discard()}
		if err := s.sync(ctx, p); err == nil {
			t.Error("no error for a configuration that does not exist")
		}
	})
}

func equalConditions(a, b []admissionregistrationv1.MatchCondition) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
