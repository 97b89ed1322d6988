package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// hostPIDPtrace warns about SYS_PTRACE in a hostPID pod with the runtime's
// default confinement: it can attach to host processes and read their
// files through /proc/<pid>/root wherever AppArmor or SELinux do not stop
// it. (Without confinement, hostpid-ptrace-unconfined denies it instead.)
type hostPIDPtrace struct{}

func defineHostPIDPtrace() Definition {
	return Definition{
		Meta: Meta{
			ID:           "hostpid-ptrace",
			Default:      config.Enforce,
			Summary:      "`hostPID: true` and a container adds `SYS_PTRACE`, with the runtime's default AppArmor/SELinux confinement (without it, `hostpid-ptrace-unconfined` applies)",
			Why:          "it can attach to host processes and reach their files through /proc/<pid>/root wherever the default profile does not stop it",
			Reads:        []string{"spec.template.spec.hostPID", "spec.template.spec.*containers[*].securityContext"},
			Precondition: precondition.And(precondition.HostPID, precondition.Escalates),
		},
		New: func(Options) Rule { return hostPIDPtrace{} },
	}
}

func (hostPIDPtrace) Validate(_ context.Context, t *Target) field.ErrorList {
	spec := &t.DaemonSet.Spec.Template.Spec
	if !spec.HostPID {
		return nil
	}
	var errs field.ErrorList
	forEachContainer(spec, func(c containerRef) {
		k, ok := addsCapability(c.security, "SYS_PTRACE")
		if !ok || unconfined(t, &c) != "" {
			return
		}
		errs = append(errs, forbidden(c.field().Child("securityContext", "capabilities", "add").Index(k),
			"hostPID is true and "+containerKind(c.list)+" "+quote(c.name)+" adds capability SYS_PTRACE: it can attach to host processes and reach their files through /proc/<pid>/root on nodes where AppArmor or SELinux do not stop it; drop SYS_PTRACE or hostPID if it does not need to trace host processes",
			containerKind(c.list)+" "+c.name+" capability SYS_PTRACE"))
	})
	return errs
}
