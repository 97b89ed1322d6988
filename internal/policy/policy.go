// Package policy runs daemonguard's mutators and rules over one DaemonSet as
// a compiled, immutable Policy. The webhook handlers and the offline `check`
// command both call it, so they cannot disagree.
package policy

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/mutators"
	"github.com/daemonguard/daemonguard/mutators/patch"
	"github.com/daemonguard/daemonguard/validators"
	"github.com/daemonguard/daemonguard/validators/nodes"
)

// InjectedAnnotation records, on the DaemonSet's own metadata, the fields
// daemonguard has injected. It lives outside the pod template so that writing
// it never rolls the daemon pods. It is informational: nothing reads it back
// to make a decision, since authors can edit it.
const InjectedAnnotation = "daemonguard.io/injected"

// Options are the parts of a Policy that come from the environment rather
// than the policy file.
type Options struct {
	// ClassExists checks PriorityClasses; nil means assume they exist (offline).
	ClassExists mutators.ClassLookup
	// OwnNamespace is the webhook's own namespace, always exempt.
	OwnNamespace string
	// Nodes lists the cluster's nodes for the node-aware rules; nil means
	// no node view, and those rules find nothing.
	Nodes validators.NodeLister
	// Rules replaces the rule registry (validators.Registry); for tests that
	// add a rule of their own.
	Rules []validators.Definition
}

// Policy is a compiled policy file. It is safe for concurrent use.
type Policy struct {
	source     *config.Policy
	mutators   []mutator
	rules      []rule
	exemptions []exemption
	// credentials are the rules that find credential reads, whatever their
	// action: no default toleration goes into a DaemonSet they find
	// something in.
	credentials []rule
	// mutating is when some enabled mutator can act.
	mutating precondition.Cond
}

// MutatingCondition holds for every DaemonSet this policy's mutators can
// change or warn about: the mutating webhook's matchCondition. Unlike the
// validating one it depends on the policy file (which defaults, which
// resources), so the webhook keeps it in step with the file it loads.
func (p *Policy) MutatingCondition() precondition.Cond { return p.mutating }

// ValidatingCondition holds for every request some rule of rules can find
// something in, whatever action a policy gives it: the validating
// webhook's matchCondition. It does not depend on the policy file, so the
// chart renders it once and no policy change can make it too narrow.
func ValidatingCondition(rules []validators.Definition) precondition.Cond {
	conds := make([]precondition.Cond, len(rules))
	for i := range rules {
		conds[i] = rules[i].Condition()
	}
	return precondition.Or(conds...)
}

type mutator struct {
	mutators.Mutator
	name string
}

type rule struct {
	validators.Rule
	meta   validators.Meta
	action config.Action
}

type exemption struct {
	namespaces   []string
	daemonSets   []string        // metadata.name values; empty: no name condition
	selector     labels.Selector // nil: no label condition
	anyNamespace bool
	names        []string // rule ids and mutator names; empty: all
	index        int      // in the file's exemptions[]; OwnNamespaceExemption for the webhook's own
	reason       string
}

// New compiles cfg. It also checks what only the registries know: the rule
// ids and mutator names the file names, and the tolerations the DaemonSet
// controller manages itself.
func New(cfg *config.Policy, opts Options) (*Policy, error) {
	registry := opts.Rules
	if registry == nil {
		registry = validators.Registry()
	}
	if errs := crossCheck(cfg, registry); len(errs) > 0 {
		return nil, fmt.Errorf("invalid policy: %w", errs.ToAggregate())
	}
	p := &Policy{source: cfg}
	m := &cfg.Mutation
	enabled := map[string]bool{
		mutators.TolerationsName:   *m.Tolerations.Enabled,
		mutators.PriorityClassName: *m.PriorityClass.Enabled,
		mutators.ResourcesName:     *m.Resources.Enabled,
	}
	mopts := MutatorOptions(cfg)
	mopts.ClassExists = opts.ClassExists
	if opts.Nodes != nil {
		mopts.Nodes = mutators.NodeLister(opts.Nodes)
	}
	var acts []precondition.Cond
	for _, d := range mutators.Registry() {
		if enabled[d.Name] {
			p.mutators = append(p.mutators, mutator{Mutator: d.New(mopts), name: d.Name})
			acts = append(acts, d.Precondition(mopts))
		}
	}
	p.mutating = precondition.Or(acts...)
	ropts := validators.Options{
		Nodes: opts.Nodes,
		// One memo per Policy: a reload starts with none.
		NodeReviews: nodes.NewMemo(),
		// Unlike the mutator, the rule checks only against a real cluster.
		ClassExists:        validators.ClassLookup(opts.ClassExists),
		SensitiveHostPaths: cfg.Validation.SensitiveHostPaths,
		RuntimeSockets:     cfg.Validation.RuntimeSockets,
		AllowedHostPaths:   allowedHostPaths(cfg.Validation.AllowedHostPaths),
	}
	for _, d := range registry {
		a := cfg.Action(d.ID, d.Default)
		if a != config.Off {
			p.rules = append(p.rules, rule{Rule: d.New(ropts), meta: d.Meta, action: a})
		}
		if d.Credentials {
			p.credentials = append(p.credentials, rule{Rule: d.New(ropts), meta: d.Meta, action: a})
		}
	}
	for i, e := range cfg.Exemptions {
		c := exemption{namespaces: e.Namespaces, daemonSets: e.DaemonSets, anyNamespace: e.AnyNamespace, names: e.Rules, index: i, reason: e.Reason}
		if e.Selector != nil {
			sel, err := metav1.LabelSelectorAsSelector(e.Selector)
			if err != nil {
				return nil, fmt.Errorf("exemptions[%d].selector: %w", i, err)
			}
			c.selector = sel
		}
		p.exemptions = append(p.exemptions, c)
	}
	if opts.OwnNamespace != "" {
		p.exemptions = append(p.exemptions, exemption{namespaces: []string{opts.OwnNamespace},
			index: OwnNamespaceExemption, reason: "the webhook's own namespace"})
	}
	return p, nil
}

// allowedHostPaths are the policy's allowlist for the rules.
func allowedHostPaths(in []config.AllowedHostPath) []validators.AllowedHostPath {
	out := make([]validators.AllowedHostPath, len(in))
	for i, a := range in {
		out[i] = validators.AllowedHostPath{PathPrefix: a.PathPrefix, ReadOnly: a.ReadOnly}
	}
	return out
}

// MutatorOptions are the mutators' settings in cfg.
func MutatorOptions(cfg *config.Policy) mutators.Options {
	m := &cfg.Mutation
	return mutators.Options{
		Tolerations:         m.Tolerations.Defaults,
		PriorityClass:       m.PriorityClass.Name,
		Requests:            m.Resources.Requests,
		Limits:              limitRules(&m.Resources),
		SkipPriorityClasses: m.Resources.SkipPriorityClasses,
	}
}

// limitRules are the enabled limit defaults of r, per resource.
func limitRules(r *config.ResourcesMutation) map[corev1.ResourceName]mutators.LimitRule {
	rules := map[corev1.ResourceName]mutators.LimitRule{}
	for name, l := range map[corev1.ResourceName]*config.LimitDefault{corev1.ResourceMemory: &r.MemoryLimit, corev1.ResourceCPU: &r.CPULimit} {
		if *l.Enabled {
			rules[name] = mutators.LimitRule{Minimum: l.Minimum.DeepCopy(), Multiplier: int64(l.RequestMultiplier)}
		}
	}
	return rules
}

// Source returns the policy file this Policy was compiled from.
func (p *Policy) Source() *config.Policy { return p.source }

// Mutation is what the mutators did to one DaemonSet.
type Mutation struct {
	// Changed lists the injected field paths, in the order they were set.
	Changed []string
	// Patch adds what was injected, including the InjectedAnnotation, at
	// paths of the typed object (see patch.Anchor).
	Patch []patch.Operation
	// Warnings explain defaults that were deliberately not applied.
	Warnings []string
	// Notes tell the client about values that were applied (injected
	// limits); like Warnings, they are returned as admission warnings.
	Notes []string
	// ByMutator counts changed fields per mutator, for metrics.
	ByMutator map[string]int
	// Exempted are the keys (ExemptionMatch.Key) of the exemptions that
	// skipped a mutator, each once, for the exemption-hits metric.
	Exempted []string
}

// Mutate applies every mutator that ds is not exempt from, in order, and
// records what was injected in the InjectedAnnotation.
func (p *Policy) Mutate(ctx context.Context, namespace string, ds *appsv1.DaemonSet) Mutation {
	var out Mutation
	for _, m := range p.mutators {
		if e := p.exemptionFor(m.name, namespace, ds); e != nil {
			out.Exempted = noteExempted(out.Exempted, e)
			continue
		}
		if t, ok := m.Mutator.(*mutators.Tolerations); ok && t.Adds(ctx, ds) {
			if why := p.readsCredentials(ctx, ds); why != "" {
				out.Warnings = append(out.Warnings, "default tolerations were not added: "+why+
					"; a toleration would also place it on control-plane nodes, next to etcd and the cluster's keys (add the tolerations it needs yourself if it must run there)")
				continue
			}
		}
		r := m.Mutate(ctx, ds)
		out.Patch = append(out.Patch, r.Patch...)
		out.Warnings = append(out.Warnings, r.Warnings...)
		out.Notes = append(out.Notes, r.Notes...)
		if len(r.Patch) > 0 {
			out.Changed = append(out.Changed, r.Changed()...)
			if out.ByMutator == nil {
				out.ByMutator = map[string]int{}
			}
			out.ByMutator[m.name] += len(r.Patch)
		}
	}
	if len(out.Changed) > 0 {
		// The annotation comes first, as it always has in daemonguard's patches.
		out.Patch = slices.Insert(out.Patch, 0, recordInjected(ds, out.Changed))
	}
	return out
}

// readsCredentials runs the credential rules over ds, before any default
// toleration is injected, and returns why ds reads node or cluster
// credentials, or "". It ignores the rules' actions and exemptions: an
// admin who accepts that an agent reads credentials has not thereby asked
// for it on the control plane.
func (p *Policy) readsCredentials(ctx context.Context, ds *appsv1.DaemonSet) string {
	if len(p.credentials) == 0 {
		return ""
	}
	t := validators.NewTarget(ds)
	for _, r := range p.credentials {
		if errs := r.Validate(ctx, t); len(errs) > 0 {
			return "the DaemonSet can read node or cluster credentials [" + r.meta.ID + "] " + errs[0].Field + ": " + errs[0].Detail
		}
	}
	return ""
}

// recordInjected merges changed into the annotation, so that what an earlier
// admission injected stays listed, and returns the operation that sets it.
func recordInjected(ds *appsv1.DaemonSet, changed []string) patch.Operation {
	all := append([]string(nil), changed...)
	if prev := ds.Annotations[InjectedAnnotation]; prev != "" {
		all = append(all, strings.Split(prev, ",")...)
	}
	sort.Strings(all)
	all = slices.Compact(all)
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	value := strings.Join(all, ",")
	ds.Annotations[InjectedAnnotation] = value
	return patch.Add(patch.NewPath("metadata", "annotations", InjectedAnnotation), value)
}
