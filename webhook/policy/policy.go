// Package policy runs daemonguard's mutators and rules over one DaemonSet as
// a compiled, immutable Policy. The webhook handlers and the offline `check`
// command both call it, so they cannot disagree.
package policy

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/daemonguard/daemonguard/mutators"
	"github.com/daemonguard/daemonguard/validators"
	"github.com/daemonguard/daemonguard/webhook/config"
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
}

// Policy is a compiled policy file. It is safe for concurrent use.
type Policy struct {
	source     *config.Policy
	mutators   []mutators.Mutator
	rules      []rule
	exemptions []exemption
}

type rule struct {
	validators.Rule
	action validators.Action
}

type exemption struct {
	namespaces   []string
	selector     labels.Selector // nil: no label condition
	anyNamespace bool
	names        []string // rule ids and mutator names; empty: all
}

// New compiles cfg.
func New(cfg *config.Policy, opts Options) (*Policy, error) {
	exists := opts.ClassExists
	if exists == nil {
		exists = mutators.AssumeClassExists
	}
	p := &Policy{source: cfg}
	m := &cfg.Mutation
	if *m.Tolerations.Enabled {
		p.mutators = append(p.mutators, mutators.NewTolerations(m.Tolerations.Defaults))
	}
	if *m.PriorityClass.Enabled {
		p.mutators = append(p.mutators, mutators.NewPriorityClass(m.PriorityClass.Name, exists))
	}
	if *m.Resources.Enabled {
		p.mutators = append(p.mutators, mutators.NewResources(m.Resources.Requests, m.Resources.Limits))
	}
	for _, r := range validators.All(validators.Options{
		SensitiveHostPaths: cfg.Validation.SensitiveHostPaths,
		RuntimeSockets:     cfg.Validation.RuntimeSockets,
	}) {
		if a := cfg.Action(r.ID(), r.DefaultAction()); a != validators.Off {
			p.rules = append(p.rules, rule{Rule: r, action: a})
		}
	}
	for i, e := range cfg.Exemptions {
		c := exemption{namespaces: e.Namespaces, anyNamespace: e.AnyNamespace, names: e.Rules}
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
		p.exemptions = append(p.exemptions, exemption{namespaces: []string{opts.OwnNamespace}})
	}
	return p, nil
}

// Source returns the policy file this Policy was compiled from.
func (p *Policy) Source() *config.Policy { return p.source }

// exempt reports whether the mutator or rule called name skips ds.
func (p *Policy) exempt(name, namespace string, ds *appsv1.DaemonSet) bool {
	for i := range p.exemptions {
		e := &p.exemptions[i]
		if len(e.names) > 0 && !slices.Contains(e.names, name) {
			continue
		}
		if !e.anyNamespace && !slices.Contains(e.namespaces, namespace) {
			continue
		}
		if e.selector != nil && !e.selector.Matches(labels.Set(ds.Labels)) {
			continue
		}
		return true
	}
	return false
}

// Mutation is what the mutators did to one DaemonSet.
type Mutation struct {
	// Changed lists the injected field paths, in the order they were set.
	Changed []string
	// Warnings explain defaults that were deliberately not applied.
	Warnings []string
	// ByMutator counts changed fields per mutator, for metrics.
	ByMutator map[string]int
}

// Mutate applies every mutator that ds is not exempt from, in order, and
// records what was injected in the InjectedAnnotation.
func (p *Policy) Mutate(namespace string, ds *appsv1.DaemonSet) Mutation {
	var out Mutation
	for _, m := range p.mutators {
		if p.exempt(m.Name(), namespace, ds) {
			continue
		}
		r := m.Mutate(ds)
		out.Changed = append(out.Changed, r.Changed...)
		out.Warnings = append(out.Warnings, r.Warnings...)
		if len(r.Changed) > 0 {
			if out.ByMutator == nil {
				out.ByMutator = map[string]int{}
			}
			out.ByMutator[m.Name()] += len(r.Changed)
		}
	}
	if len(out.Changed) > 0 {
		recordInjected(ds, out.Changed)
	}
	return out
}

// recordInjected merges changed into the annotation, so that what an earlier
// admission injected stays listed.
func recordInjected(ds *appsv1.DaemonSet, changed []string) {
	all := append([]string(nil), changed...)
	if prev := ds.Annotations[InjectedAnnotation]; prev != "" {
		all = append(all, strings.Split(prev, ",")...)
	}
	sort.Strings(all)
	all = slices.Compact(all)
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[InjectedAnnotation] = strings.Join(all, ",")
}
