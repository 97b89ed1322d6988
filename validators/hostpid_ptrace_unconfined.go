package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// hostPIDPtraceUnconfined forbids SYS_PTRACE in a hostPID pod whose
// container runs without the runtime's default confinement (AppArmor
// Unconfined, in the field or the legacy annotation; SELinux type spc_t):
// nothing then stops it from tracing and entering every host process.
type hostPIDPtraceUnconfined struct{}

func defineHostPIDPtraceUnconfined() Definition {
	return Definition{
		Meta: Meta{
			ID:           "hostpid-ptrace-unconfined",
			Default:      config.Enforce,
			Summary:      "`hostPID: true` and a container adds `SYS_PTRACE` while running AppArmor `Unconfined` (container or pod `appArmorProfile`, or the legacy `container.apparmor.security.beta.kubernetes.io/<name>: unconfined` template annotation) or SELinux type `spc_t`",
			Why:          "nothing stops it from tracing every host process and reaching the node's files through /proc/<pid>/root",
			Reads:        []string{"spec.template.metadata.annotations", "spec.template.spec.hostPID", "spec.template.spec.securityContext", "spec.template.spec.*containers[*].securityContext"},
			Precondition: precondition.And(precondition.HostPID, precondition.Escalates),
		},
		New: func(Options) Rule { return hostPIDPtraceUnconfined{} },
	}
}

func (hostPIDPtraceUnconfined) Validate(_ context.Context, t *Target) field.ErrorList {
	spec := &t.DaemonSet.Spec.Template.Spec
	if !spec.HostPID {
		return nil
	}
	var errs field.ErrorList
	forEachContainer(spec, func(c containerRef) {
		k, ok := addsCapability(c.security, "SYS_PTRACE")
		if !ok {
			return
		}
		how := unconfined(t, &c)
		if how == "" {
			return
		}
		errs = append(errs, forbidden(c.field().Child("securityContext", "capabilities", "add").Index(k),
			"hostPID is true and "+containerKind(c.list)+" "+quote(c.name)+" adds capability SYS_PTRACE with "+how+": nothing stops it from tracing every host process and reaching the node's files through /proc/<pid>/root; keep the runtime's default profile (RuntimeDefault, container_t)",
			containerKind(c.list)+" "+c.name+" capability SYS_PTRACE "+how))
	})
	return errs
}
