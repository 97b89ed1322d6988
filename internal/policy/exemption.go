package policy

import (
	appsv1 "k8s.io/api/apps/v1"

	"github.com/daemonguard/daemonguard/internal/config"
)

// Exemption says which entry of the policy exempts a DaemonSet from a rule or
// mutator, for reports that must show why a rule was skipped.
type Exemption struct {
	// Index is the entry's index in the policy file's exemptions, or -1 for
	// the webhook's own namespace, which is always exempt.
	Index int
	// Reason is the entry's reason, or a fixed text for the own namespace.
	Reason string
}

// RuleState is how the policy treats one enabled rule for one DaemonSet.
type RuleState struct {
	ID     string
	Action config.Action
	// Exempt is set when an exemption skips the rule for this DaemonSet.
	Exempt *Exemption
}

// RuleStates lists the enabled rules, in registry order, with the exemption
// that skips each for ds in namespace, if any. Rules at off are left out.
func (p *Policy) RuleStates(namespace string, ds *appsv1.DaemonSet) []RuleState {
	out := make([]RuleState, 0, len(p.rules))
	for _, r := range p.rules {
		s := RuleState{ID: r.meta.ID, Action: r.action}
		if e, ok := p.ExemptionFor(r.meta.ID, namespace, ds); ok {
			s.Exempt = &e
		}
		out = append(out, s)
	}
	return out
}

// MutatorExemptions returns, by mutator name, the exemption that skips each
// enabled mutator for ds in namespace; mutators that apply are not listed.
func (p *Policy) MutatorExemptions(namespace string, ds *appsv1.DaemonSet) map[string]Exemption {
	out := map[string]Exemption{}
	for _, m := range p.mutators {
		if e, ok := p.ExemptionFor(m.name, namespace, ds); ok {
			out[m.name] = e
		}
	}
	return out
}

// ExemptionFor returns the first exemption that skips the rule or mutator
// called name for ds in namespace: the same matching as Mutate and Validate
// use.
func (p *Policy) ExemptionFor(name, namespace string, ds *appsv1.DaemonSet) (Exemption, bool) {
	e := p.exemptionFor(name, namespace, ds)
	switch {
	case e == nil:
		return Exemption{}, false
	case e.index == OwnNamespaceExemption:
		return Exemption{Index: -1, Reason: "the webhook's own namespace"}, true
	}
	return Exemption{Index: e.index, Reason: e.reason}, true
}
