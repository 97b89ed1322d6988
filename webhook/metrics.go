package webhook

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/daemonguard/daemonguard/internal/review"
)

// Metrics are daemonguard's own Prometheus metrics. A request counter would
// only see HTTP codes; these tell allowed, denied, warned and mutated apart,
// per rule and per mutator.
type Metrics struct {
	reviews       *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	findings      *prometheus.CounterVec
	mutations     *prometheus.CounterVec
	mutationSkips *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	reloadOK      prometheus.Gauge
	reloadTime    prometheus.Gauge
	conditionOK   prometheus.Gauge
	validatingOK  prometheus.Gauge
	ownedDenials  *prometheus.CounterVec
	ownerEvents   *prometheus.CounterVec
	exemptions    *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		reviews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daemonguard_admission_reviews_total",
			Help: "Admission reviews answered, by webhook (mutate, validate), operation and result (allowed, denied, mutated, error, skipped).",
		}, []string{"webhook", "operation", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "daemonguard_admission_review_duration_seconds",
			Help:    "Time to answer an admission review, from request body to response.",
			Buckets: []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1},
		}, []string{"webhook"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daemonguard_rule_findings_total",
			Help: "Rule findings, by rule, by what was done (deny, warn, audit) and by the DaemonSet's namespace; ratcheted=true for enforced findings an UPDATE inherited.",
			// Not "namespace": Prometheus' target label of that name would
			// rename it to exported_namespace.
		}, []string{"rule", "action", "ratcheted", "daemonset_namespace"}),
		mutations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daemonguard_mutations_total",
			Help: "DaemonSets changed, by mutator.",
		}, []string{"mutator"}),
		mutationSkips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daemonguard_mutation_warnings_total",
			Help: "Defaults deliberately not applied (for example a PriorityClass missing from the cluster), with a warning to the client.",
		}, []string{"webhook"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daemonguard_policy_reloads_total",
			Help: "Policy file reloads, by result (success, failure). On failure the last good policy stays in force.",
		}, []string{"result"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "daemonguard_policy_last_reload_successful",
			Help: "1 if the newest policy file on disk is the one in force, 0 if it failed to load and an older one is serving.",
		}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "daemonguard_policy_loaded_timestamp_seconds",
			Help: "Unix time the policy in force was loaded.",
		}),
		conditionOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "daemonguard_mutating_match_conditions_synced",
			Help: "1 if the mutating webhook's matchConditions were last written or found as serve --mutating-match-condition asks, 0 if that failed.",
		}),
		validatingOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "daemonguard_validating_match_conditions_current",
			Help: "1 if the ValidatingWebhookConfiguration carries the matchCondition this image was built with (or none), 0 if it carries another (an older chart under a newer image: the API server skips the webhook for DaemonSets newer rules would judge) or cannot be read.",
		}),
		ownedDenials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daemonguard_owned_denials_total",
			Help: "Denied DaemonSets that have an owner (an operator's resource: the controller owner reference, else the first), by the owner's kind and API group; dry runs are not counted.",
		}, []string{"owner_kind", "owner_group"}),
		ownerEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daemonguard_owner_events_total",
			Help: "Events on the owners of denied DaemonSets, by result: created, updated (a count written), dropped (queue or owner table full), skipped (owner kind not served), failed (the API server refused).",
		}, []string{"result"}),
		exemptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "daemonguard_exemption_hits_total",
			Help: "Reviews in which a policy exemption skipped at least one mutator or rule, by webhook and entry (exemptions[i] of the policy file, or own-namespace).",
		}, []string{"webhook", "exemption"}),
	}
	for _, c := range []prometheus.Collector{m.reviews, m.duration, m.findings, m.mutations, m.mutationSkips, m.reloads, m.reloadOK, m.reloadTime, m.conditionOK, m.validatingOK, m.ownedDenials, m.ownerEvents, m.exemptions} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *Metrics) observe(webhook, operation, namespace string, o *review.Outcome, seconds float64) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(webhook).Observe(seconds)
	result := "allowed"
	switch {
	case !o.Response.Allowed && !o.Reviewed:
		result = "error"
	case !o.Response.Allowed:
		result = "denied"
	case !o.Reviewed:
		result = "skipped"
	case len(o.Operations) > 0:
		result = "mutated"
	}
	m.reviews.WithLabelValues(webhook, operation, result).Inc()
	for _, v := range o.Verdict.Violations {
		m.findings.WithLabelValues(v.Rule, v.Action, strconv.FormatBool(v.Ratcheted), namespace).Inc()
	}
	for _, k := range o.Mutation.Exempted {
		m.exemptions.WithLabelValues(webhook, k).Inc()
	}
	for _, k := range o.Verdict.Exempted {
		m.exemptions.WithLabelValues(webhook, k).Inc()
	}
	for name := range o.Mutation.ByMutator {
		m.mutations.WithLabelValues(name).Inc()
	}
	if n := len(o.Mutation.Warnings); n > 0 {
		m.mutationSkips.WithLabelValues(webhook).Add(float64(n))
	}
}

func (m *Metrics) reloaded(ok bool, unix float64) {
	if m == nil {
		return
	}
	if ok {
		m.reloads.WithLabelValues("success").Inc()
		m.reloadOK.Set(1)
		m.reloadTime.Set(unix)
		return
	}
	m.reloads.WithLabelValues("failure").Inc()
	m.reloadOK.Set(0)
}

func (m *Metrics) conditionSynced(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.conditionOK.Set(1)
		return
	}
	m.conditionOK.Set(0)
}

func (m *Metrics) validatingCurrent(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.validatingOK.Set(1)
		return
	}
	m.validatingOK.Set(0)
}

func (m *Metrics) ownedDenial(o metav1.OwnerReference) {
	if m == nil {
		return
	}
	group := ""
	if gv, err := schema.ParseGroupVersion(o.APIVersion); err == nil {
		group = gv.Group
	}
	m.ownedDenials.WithLabelValues(o.Kind, group).Inc()
}

func (m *Metrics) ownerEvent(result string) {
	if m == nil {
		return
	}
	m.ownerEvents.WithLabelValues(result).Inc()
}
