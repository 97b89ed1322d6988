package validators

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// unmaskedProcMount forbids procMount: Unmasked outside a user namespace:
// the container's /proc is then neither masked nor read-only, and root in
// it writes /proc/sys (kernel.core_pattern runs a program on the host, as
// root, on the next crash).
type unmaskedProcMount struct{}

func defineUnmaskedProcMount() Definition {
	return Definition{
		Meta: Meta{
			ID:           "unmasked-procmount",
			Default:      config.Enforce,
			Summary:      "`procMount: Unmasked` on a container of a pod without `hostUsers: false`",
			Why:          "an unmasked, writable /proc/sys lets root in the container set kernel.core_pattern, which the host kernel runs as root",
			Reads:        []string{"spec.template.spec.hostUsers", "spec.template.spec.*containers[*].securityContext.procMount"},
			Precondition: precondition.Escalates,
		},
		New: func(Options) Rule { return unmaskedProcMount{} },
	}
}

func (unmaskedProcMount) Validate(_ context.Context, t *Target) field.ErrorList {
	spec := &t.DaemonSet.Spec.Template.Spec
	if spec.HostUsers != nil && !*spec.HostUsers {
		return nil
	}
	var errs field.ErrorList
	forEachContainer(spec, func(c containerRef) {
		if c.security == nil || c.security.ProcMount == nil || *c.security.ProcMount != corev1.UnmaskedProcMount {
			return
		}
		errs = append(errs, forbidden(c.field().Child("securityContext", "procMount"),
			containerKind(c.list)+" "+quote(c.name)+" sets procMount: Unmasked in the host's user namespace: root in it can write /proc/sys, and kernel.core_pattern makes the host kernel run a program as root; remove procMount (or run the pod with hostUsers: false)",
			containerKind(c.list)+" "+c.name+" procMount Unmasked"))
	})
	return errs
}
