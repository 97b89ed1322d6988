package webhook

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// conditionSyncer keeps the mutating webhook's matchCondition equal to the
// condition of the policy in force. Unlike the validating webhook's
// condition, which the chart renders because no policy can widen it, the
// mutating one follows the policy file (which tolerations, which resources),
// and that file changes at runtime without a chart upgrade: so the webhook
// that loads the file writes the condition. Every replica does; they agree
// once they have read the same file.
type conditionSyncer struct {
	// name is the MutatingWebhookConfiguration's; every webhook in it gets
	// the condition.
	name string
	// always, instead of the policy's condition, removes daemonguard's, so
	// the webhook is called for every DaemonSet: a condition written before
	// the chart turned the feature off must not stay behind, frozen at an
	// old policy (Helm never owned it, so an upgrade does not remove it).
	always bool
	// configurations is read uncached: a cache would list every configuration.
	configurations mutatingConfigurations
	policy         func() *policy.Policy
	// check is how often the live configuration is compared (someone may
	// have edited it); a new policy is written within poll.
	check, poll time.Duration
	metrics     *Metrics
	log         logr.Logger
}

// Start syncs now, when the policy in force changes and every check
// interval, until ctx ends. A failed sync is retried after 1s, then twice
// as long each time up to the check interval, so a missing configuration
// or permission is reported without flooding the log.
func (s *conditionSyncer) Start(ctx context.Context) error {
	poll := time.NewTicker(s.poll)
	defer poll.Stop()
	var synced *policy.Policy
	var next time.Time
	backoff := time.Second
	for {
		if p := s.policy(); p != synced || !time.Now().Before(next) {
			synced = p
			if err := s.sync(ctx, p); err != nil {
				s.log.Error(err, "mutating webhook's matchConditions not in step with the policy", "configuration", s.name, "retryIn", backoff)
				s.metrics.conditionSynced(false)
				next, backoff = time.Now().Add(backoff), min(2*backoff, s.check)
			} else {
				s.metrics.conditionSynced(true)
				next, backoff = time.Now().Add(s.check), time.Second
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		}
	}
}

// mutatingConfigurations reads and writes MutatingWebhookConfigurations:
// kube's typed client (client-go's fake in tests).
type mutatingConfigurations interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (*admissionregistrationv1.MutatingWebhookConfiguration, error)
	Update(ctx context.Context, cfg *admissionregistrationv1.MutatingWebhookConfiguration, opts metav1.UpdateOptions) (*admissionregistrationv1.MutatingWebhookConfiguration, error)
}

// sync writes p's condition into the configuration when it differs,
// keeping any matchCondition of another name that an admin added.
func (s *conditionSyncer) sync(ctx context.Context, p *policy.Policy) error {
	cfg, err := s.configurations.Get(ctx, s.name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", s.name, err)
	}
	var want []admissionregistrationv1.MatchCondition
	if !s.always {
		want = p.MutatingCondition().MatchConditions(precondition.MutatorMayAct)
	}
	changed := false
	for i := range cfg.Webhooks {
		w := &cfg.Webhooks[i]
		conds := slices.DeleteFunc(slices.Clone(w.MatchConditions), func(c admissionregistrationv1.MatchCondition) bool {
			return c.Name == precondition.MutatorMayAct
		})
		conds = append(conds, want...)
		if !slices.Equal(conds, w.MatchConditions) {
			w.MatchConditions, changed = conds, true
		}
	}
	if !changed {
		return nil
	}
	// An update carries the resourceVersion read: a concurrent writer
	// (another replica, the CA injector) makes it fail, and the next round
	// reads again.
	if _, err := s.configurations.Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("writing the matchConditions of MutatingWebhookConfiguration %s: %w", s.name, err)
	}
	s.log.Info("mutating webhook's matchConditions written", "configuration", s.name, "followPolicy", !s.always)
	return nil
}
