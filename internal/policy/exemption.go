package policy

import (
	"fmt"
	"math"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/daemonguard/daemonguard/internal/config"
)

// OwnNamespaceExemption is the index an ExemptionMatch gives the built-in
// exemption of the webhook's own namespace, which is not in the file.
const OwnNamespaceExemption = -1

// ExemptionMatch is a policy exemption that applies to one DaemonSet.
type ExemptionMatch struct {
	// Index is the exemption's position in the policy file's exemptions[],
	// or OwnNamespaceExemption.
	Index  int    `json:"index"`
	Reason string `json:"reason,omitempty"`
	// Rules are the enabled rule ids and mutator names it exempts the
	// DaemonSet from, in the order they run; a name an earlier exemption
	// already covers is listed there only.
	Rules []string `json:"rules"`
}

// Key names the entry: "exemptions[i]", or "own-namespace".
func (m *ExemptionMatch) Key() string { return exemptionKey(m.Index) }

func exemptionKey(index int) string {
	if index == OwnNamespaceExemption {
		return "own-namespace"
	}
	return fmt.Sprintf("exemptions[%d]", index)
}

// noteExempted adds e's key to keys once: what Mutation.Exempted and
// Verdict.Exempted hold.
func noteExempted(keys []string, e *exemption) []string {
	k := exemptionKey(e.index)
	if slices.Contains(keys, k) {
		return keys
	}
	return append(keys, k)
}

// Exemptions are the exemptions that apply to one DaemonSet, in the order
// the policy lists them (the own namespace's last): the one answer to
// "which entry exempts it from what", for check's output, scan's and the
// Reports alike.
type Exemptions []ExemptionMatch

// For is the entry that exempts the DaemonSet from the enabled rule or
// mutator called name, or nil.
func (e Exemptions) For(name string) *ExemptionMatch {
	for i := range e {
		if slices.Contains(e[i].Rules, name) {
			return &e[i]
		}
	}
	return nil
}

// Exemptions reports which exemptions apply to ds and what each exempts it
// from: the same matching Mutate and Validate use, so it never disagrees
// with a verdict. Nil when none applies.
func (p *Policy) Exemptions(namespace string, ds *appsv1.DaemonSet) Exemptions {
	var out Exemptions
	at := map[*exemption]int{}
	note := func(name string) {
		e := p.exemptionFor(name, namespace, ds)
		if e == nil {
			return
		}
		i, ok := at[e]
		if !ok {
			i = len(out)
			at[e] = i
			out = append(out, ExemptionMatch{Index: e.index, Reason: e.reason})
		}
		out[i].Rules = append(out[i].Rules, name)
	}
	for _, m := range p.mutators {
		note(m.name)
	}
	for _, r := range p.rules {
		note(r.meta.ID)
	}
	slices.SortStableFunc(out, func(a, b ExemptionMatch) int { return position(a.Index) - position(b.Index) })
	return out
}

func position(index int) int {
	if index == OwnNamespaceExemption {
		return math.MaxInt32
	}
	return index
}

// RuleState is one enabled rule and its action under the policy.
type RuleState struct {
	ID     string
	Action config.Action
}

// Rules lists the enabled rules (those not off), in registry order.
func (p *Policy) Rules() []RuleState {
	out := make([]RuleState, len(p.rules))
	for i, r := range p.rules {
		out[i] = RuleState{ID: r.meta.ID, Action: r.action}
	}
	return out
}

// exempt reports whether the mutator or rule called name skips ds.
func (p *Policy) exempt(name, namespace string, ds *appsv1.DaemonSet) bool {
	return p.exemptionFor(name, namespace, ds) != nil
}

// exemptionFor is the first exemption that exempts ds from the mutator or
// rule called name, or nil.
func (p *Policy) exemptionFor(name, namespace string, ds *appsv1.DaemonSet) *exemption {
	for i := range p.exemptions {
		e := &p.exemptions[i]
		if len(e.names) > 0 && !slices.Contains(e.names, name) {
			continue
		}
		if !e.anyNamespace && !slices.Contains(e.namespaces, namespace) {
			continue
		}
		// The name as the API server holds it: an UPDATE cannot change
		// it, and a CREATE under a name that exists fails in storage.
		if len(e.daemonSets) > 0 && !slices.Contains(e.daemonSets, ds.Name) {
			continue
		}
		if e.selector != nil && !e.selector.Matches(labels.Set(ds.Labels)) {
			continue
		}
		return e
	}
	return nil
}
