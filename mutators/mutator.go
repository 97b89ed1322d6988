// Package mutators holds daemonguard's mutators: pure functions over a
// DaemonSet that fill in what the author left out and never override what the
// author set. Every mutator converges: a second pass over its own output
// changes nothing.
package mutators

import appsv1 "k8s.io/api/apps/v1"

// Mutator fills in one kind of default.
type Mutator interface {
	// Name is the stable mutator name used in config exemptions and metrics.
	Name() string
	// Mutate changes ds in place and reports what it did.
	Mutate(ds *appsv1.DaemonSet) Result
}

// Result is what one mutator did to one DaemonSet.
type Result struct {
	// Changed lists the field paths the mutator set, as
	// "spec.template.spec.priorityClassName".
	Changed []string
	// Warnings explain a default that was deliberately not applied.
	Warnings []string
}

// Names of the built-in mutators, in the order they run.
const (
	TolerationsName   = "tolerations"
	PriorityClassName = "priority-class"
	ResourcesName     = "resources"
)

// Names returns the names of all built-in mutators.
func Names() []string { return []string{TolerationsName, PriorityClassName, ResourcesName} }
