package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// priorityClassMissing warns about a priorityClassName the cluster does not
// have: the DaemonSet is accepted, then the controller fails every pod
// creation, visible only in its events.
type priorityClassMissing struct{ exists ClassLookup }

func definePriorityClassMissing() Definition {
	return Definition{
		Meta: Meta{
			ID:           "priority-class-missing",
			Default:      config.Warn,
			Summary:      "`priorityClassName` names a PriorityClass the cluster does not have (the webhook checks its cache; `check` cannot)",
			Why:          "the DaemonSet is accepted and creates no pod at all; the only trace is FailedCreate events",
			Reads:        []string{"spec.template.spec.priorityClassName"},
			Precondition: priorityClassNamedCondition,
			ReadsCluster: true,
		},
		New: func(o Options) Rule { return priorityClassMissing{exists: o.ClassExists} },
	}
}

// priorityClassNamedCondition: the pod names a PriorityClass.
var priorityClassNamedCondition = precondition.Atom("a `priorityClassName`",
	precondition.Has(precondition.Spec, "priorityClassName")+` && `+precondition.Spec+`.priorityClassName != ""`)

func (r priorityClassMissing) Validate(ctx context.Context, t *Target) field.ErrorList {
	name := t.DaemonSet.Spec.Template.Spec.PriorityClassName
	if r.exists == nil || name == "" {
		return nil
	}
	if ok, err := r.exists(ctx, name); err != nil || ok {
		return nil
	}
	return field.ErrorList{forbidden(field.NewPath("spec", "template", "spec", "priorityClassName"),
		"PriorityClass "+quote(name)+" does not exist: the DaemonSet controller will create no pod (FailedCreate events only); create the PriorityClass or name one that exists",
		"priority-class-missing "+name)}
}
