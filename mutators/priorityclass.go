package mutators

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/mutators/patch"
)

// ClassLookup reports whether a PriorityClass exists in the cluster.
type ClassLookup func(ctx context.Context, name string) (bool, error)

// AssumeClassExists is the lookup for offline use, where no cluster can be asked.
func AssumeClassExists(context.Context, string) (bool, error) { return true, nil }

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

func definePriorityClass() Definition {
	return Definition{
		Meta: Meta{
			Name:    PriorityClassName,
			Summary: "sets the configured priorityClassName when the pod names none and the class exists",
			Writes:  []string{"spec.template.spec.priorityClassName"},
		},
		New: func(o Options) Mutator {
			exists := o.ClassExists
			if exists == nil {
				exists = AssumeClassExists
			}
			return NewPriorityClass(o.PriorityClass, exists)
		},
		Precondition: func(Options) precondition.Cond { return unclassified },
	}
}

// unclassified: the pod names no priority, by class or by number.
var unclassified = precondition.Atom("no `priorityClassName` and no `priority`",
	`(!has(`+precondition.Spec+`.priorityClassName) || `+precondition.Spec+`.priorityClassName == "") && !has(`+precondition.Spec+`.priority)`)

// Mutate implements Mutator.
func (m *PriorityClass) Mutate(ctx context.Context, ds *appsv1.DaemonSet) Result {
	spec := &ds.Spec.Template.Spec
	// An explicit numeric priority would contradict any class we set.
	if spec.PriorityClassName != "" || spec.Priority != nil {
		return Result{}
	}
	ok, err := m.exists(ctx, m.class)
	switch {
	case err != nil:
		return Result{Warnings: []string{fmt.Sprintf(
			"priorityClassName was not set: could not check that PriorityClass %q exists (%v)", m.class, err)}}
	case !ok:
		return Result{Warnings: []string{fmt.Sprintf(
			"priorityClassName was not set: PriorityClass %q does not exist in this cluster; create it or set spec.template.spec.priorityClassName", m.class)}}
	}
	spec.PriorityClassName = m.class
	return Result{Patch: []patch.Operation{patch.Add(podSpec().Child("priorityClassName"), m.class)}}
}
