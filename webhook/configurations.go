package webhook

import (
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/validators"
)

// addConfigurationKeepers adds what keeps an eye on the webhook
// configurations: the mutating one's matchConditions written from the
// policy, the validating one's verified against this binary's rules.
func addConfigurationKeepers(mgr manager.Manager, opts Options, source *PolicySource, metrics *Metrics, log logr.Logger) error {
	if opts.MutatingConfiguration != "" {
		if err := mgr.Add(&conditionSyncer{
			name: opts.MutatingConfiguration, always: opts.MutatingAlways, reader: mgr.GetAPIReader(), writer: mgr.GetClient(),
			policy: source.Current, check: time.Minute, poll: time.Second,
			metrics: metrics, log: log.WithName("match-conditions"),
		}); err != nil {
			return err
		}
	}
	if opts.ValidatingConfiguration == "" {
		return nil
	}
	every := opts.ValidatingCheckInterval
	if every <= 0 {
		every = time.Minute
	}
	want := policy.ValidatingCondition(validators.Registry()).MatchConditions(precondition.RuleMayFire)
	if len(want) != 1 {
		return fmt.Errorf("the rules' validating condition is %d matchConditions, want 1", len(want))
	}
	return mgr.Add(&validatingCheck{
		name: opts.ValidatingConfiguration, want: want[0], reader: mgr.GetAPIReader(),
		events: mgr.GetEventRecorder("daemonguard"), every: every,
		metrics: metrics, log: log.WithName("match-conditions"),
	})
}
