// Package mutators holds daemonguard's mutators: pure functions over a
// DaemonSet that fill in what the author left out and never override what the
// author set. Each mutator writes its own JSON patch, additive operations at
// the paths it sets, so nothing else needs to know which fields it touches.
// Every mutator converges: a second pass over its own output changes nothing.
package mutators

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/mutators/patch"
)

// Mutator fills in one kind of default.
type Mutator interface {
	// Mutate changes ds in place and reports what it did.
	Mutate(ctx context.Context, ds *appsv1.DaemonSet) Result
}

// Result is what one mutator did to one DaemonSet.
type Result struct {
	// Patch adds what the mutator set, in the order it set it, at paths of
	// the typed object; patch.Anchor fits them to the JSON sent.
	Patch []patch.Operation
	// Warnings explain a default that was deliberately not applied.
	Warnings []string
	// Notes tell the client about a value that was applied and that it
	// should know about (an injected limit); they are returned as admission
	// warnings too, but are not defaults left out.
	Notes []string
}

// Changed lists the field paths the mutator set, as
// "spec.template.spec.priorityClassName".
func (r *Result) Changed() []string {
	if len(r.Patch) == 0 {
		return nil
	}
	out := make([]string, len(r.Patch))
	for i := range r.Patch {
		out[i] = r.Patch[i].Field()
	}
	return out
}

// Meta describes a mutator for the registry and the docs.
type Meta struct {
	// Name is the stable name used in policy exemptions and metrics.
	Name string
	// Summary says in one line what the mutator fills in.
	Summary string
	// Writes lists the fields it may set.
	Writes []string
}

// Options carries what the policy file configures for the mutators.
type Options struct {
	Tolerations []corev1.Toleration
	// Nodes lists the cluster's nodes: their taints decide which taints a
	// default toleration is needed for. Nil offline (see Tolerations.Mutate).
	Nodes NodeLister
	// PriorityClass is set when a pod names none; ClassExists checks it.
	PriorityClass string
	ClassExists   ClassLookup
	Requests      corev1.ResourceList
	// Limits sizes the limits filled in, per resource; a resource not
	// listed gets no limit.
	Limits map[corev1.ResourceName]LimitRule
	// SkipPriorityClasses are the classes whose pods get no resources.
	SkipPriorityClasses []string
}

// Definition is a mutator's registry entry.
type Definition struct {
	Meta
	New func(Options) Mutator
	// Precondition holds for every object the mutator built from the same
	// Options can change or warn about (it may hold for more, never for
	// less): the mutating webhook's matchConditions are built from it.
	Precondition func(Options) precondition.Cond
}

// podSpec is the pod template's spec, the root of every field mutators set.
func podSpec() patch.Path { return patch.NewPath("spec", "template", "spec") }
