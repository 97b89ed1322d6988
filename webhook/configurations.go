package webhook

import (
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/daemonguard/daemonguard/internal/kube"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/validators"
)

// configurationKeepers keep an eye on the webhook configurations: the
// mutating one's matchConditions written from the policy, the validating
// one's verified against this binary's rules.
func configurationKeepers(cs *kube.Clientset, opts Options, source *PolicySource, metrics *Metrics, log logr.Logger) ([]part, error) {
	var parts []part
	if opts.MutatingConfiguration != "" {
		s := &conditionSyncer{
			name: opts.MutatingConfiguration, always: opts.MutatingAlways, configurations: cs.MutatingWebhookConfigurations(),
			policy: source.Current, check: time.Minute, poll: time.Second,
			metrics: metrics, log: log.WithName("match-conditions"),
		}
		parts = append(parts, part{"mutating matchConditions", s.Start})
	}
	if opts.ValidatingConfiguration == "" {
		return parts, nil
	}
	every := opts.ValidatingCheckInterval
	if every <= 0 {
		every = time.Minute
	}
	want := policy.ValidatingCondition(validators.Registry()).MatchConditions(precondition.RuleMayFire)
	if len(want) != 1 {
		return nil, fmt.Errorf("the rules' validating condition is %d matchConditions, want 1", len(want))
	}
	c := &validatingCheck{
		name: opts.ValidatingConfiguration, want: want[0], configurations: cs.ValidatingWebhookConfigurations(),
		events: newEventsRecorder(cs, log.WithName("events")), every: every,
		metrics: metrics, log: log.WithName("match-conditions"),
	}
	return append(parts, part{"validating matchConditions check", c.Start}), nil
}
