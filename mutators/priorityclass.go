package mutators

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
)

// ClassLookup reports whether a PriorityClass exists in the cluster.
type ClassLookup func(name string) (bool, error)

// AssumeClassExists is the lookup for offline use, where no cluster can be asked.
func AssumeClassExists(string) (bool, error) { return true, nil }

// PriorityClass sets spec.template.spec.priorityClassName when it is empty.
// It never sets a class the cluster does not have: the DaemonSet would be
// accepted, and then every pod creation would fail with no error on the
// DaemonSet itself.
type PriorityClass struct {
	class  string
	exists ClassLookup
}

// NewPriorityClass returns a mutator setting class, checked with exists.
func NewPriorityClass(class string, exists ClassLookup) *PriorityClass {
	return &PriorityClass{class: class, exists: exists}
}

// Name implements Mutator.
func (*PriorityClass) Name() string { return PriorityClassName }

// Mutate implements Mutator.
func (m *PriorityClass) Mutate(ds *appsv1.DaemonSet) Result {
	spec := &ds.Spec.Template.Spec
	// An explicit numeric priority would contradict any class we set.
	if spec.PriorityClassName != "" || spec.Priority != nil {
		return Result{}
	}
	ok, err := m.exists(m.class)
	switch {
	case err != nil:
		return Result{Warnings: []string{fmt.Sprintf(
			"priorityClassName was not set: could not check that PriorityClass %q exists (%v)", m.class, err)}}
	case !ok:
		return Result{Warnings: []string{fmt.Sprintf(
			"priorityClassName was not set: PriorityClass %q does not exist in this cluster; create it or set spec.template.spec.priorityClassName", m.class)}}
	}
	spec.PriorityClassName = m.class
	return Result{Changed: []string{"spec.template.spec.priorityClassName"}}
}
