package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Reasons of the Events on the ValidatingWebhookConfiguration.
const (
	ReasonMatchConditionsOutdated = "MatchConditionsOutdated"
	ReasonMatchConditionsCurrent  = "MatchConditionsCurrent"
)

// eventRecorder is what the check emits Events with (eventRecorder in
// events.go: events.k8s.io/v1, as controller-runtime's recorder wrote them).
type eventRecorder interface {
	Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any)
}

// validatingCheck verifies that the ValidatingWebhookConfiguration the API
// server holds carries the matchCondition this binary was built with (the
// OR of its rules' preconditions). The chart renders that condition, so an
// image newer than the chart (a new rule, a condition that widened) runs
// behind a condition that makes the API server skip it for DaemonSets its
// newer rules would judge: nothing fails, the webhook is just never asked.
// The check only reports it (a metric, a log line, an Event on the
// configuration); it does not rewrite the configuration, which the chart or
// a GitOps tool owns and would write back (see README "matchConditions").
type validatingCheck struct {
	// name is the ValidatingWebhookConfiguration's.
	name string
	// want is the condition this binary was built with.
	want admissionregistrationv1.MatchCondition
	// configurations is read uncached: a cache would list every configuration.
	configurations interface {
		Get(ctx context.Context, name string, opts metav1.GetOptions) (*admissionregistrationv1.ValidatingWebhookConfiguration, error)
	}
	events eventRecorder
	// every is how often the configuration is read again.
	every   time.Duration
	metrics *Metrics
	log     logr.Logger
}

// conditionState is what one check found.
type conditionState struct {
	current bool
	// why is what is wrong, for the log and the Event; empty when current.
	why string
	cfg *admissionregistrationv1.ValidatingWebhookConfiguration
}

// Start checks now and every interval until ctx ends. It logs at every
// check that finds the configuration outdated, and emits an Event when the
// state changes, so a stale configuration is said once per replica and
// again only after it was fixed and broke again.
func (c *validatingCheck) Start(ctx context.Context) error {
	t := time.NewTicker(c.every)
	defer t.Stop()
	var last *bool
	for {
		s := c.check(ctx)
		c.metrics.validatingCurrent(s.current)
		if !s.current {
			c.log.Error(nil, "the validating webhook's matchConditions are not the ones this image was built with; the API server skips the webhook for DaemonSets newer rules would judge: upgrade the chart or re-apply deploy/manifests",
				"configuration", c.name, "reason", s.why)
		}
		if (last == nil || *last != s.current) && s.cfg != nil {
			if s.current {
				if last != nil {
					c.events.Eventf(s.cfg, nil, corev1.EventTypeNormal, ReasonMatchConditionsCurrent, "Verify",
						"the matchCondition %s is the one daemonguard's rules need again", c.want.Name)
				}
			} else {
				c.events.Eventf(s.cfg, nil, corev1.EventTypeWarning, ReasonMatchConditionsOutdated, "Verify",
					"%s; the API server skips daemonguard for DaemonSets its rules would judge: upgrade the chart (helm upgrade) or re-apply deploy/manifests", s.why)
			}
		}
		current := s.current
		last = &current
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// check reads the configuration and compares its conditions. A webhook
// without daemonguard's condition is called for every DaemonSet, which is
// never too narrow; one with the condition must have it exactly. Conditions
// of other names (an admin's own) are left to the admin.
func (c *validatingCheck) check(ctx context.Context) conditionState {
	cfg, err := c.configurations.Get(ctx, c.name, metav1.GetOptions{})
	if err != nil {
		why := fmt.Sprintf("cannot read ValidatingWebhookConfiguration %s: %v", c.name, err)
		if apierrors.IsForbidden(err) {
			why += " (the chart's RBAC is older than this image, which reads it to check its matchConditions)"
		}
		return conditionState{why: why}
	}
	for _, w := range cfg.Webhooks {
		for _, mc := range w.MatchConditions {
			if mc.Name == c.want.Name && mc.Expression != c.want.Expression {
				return conditionState{cfg: cfg, why: fmt.Sprintf("webhook %s of ValidatingWebhookConfiguration %s has a matchCondition %s other than the one this image was built with (an older chart?)",
					w.Name, c.name, mc.Name)}
			}
		}
	}
	return conditionState{current: true, cfg: cfg}
}
