package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/webhook/config"
)

// hostPIDPrivileged forbids privileged containers, or ones adding SYS_ADMIN or
// ALL, in a hostPID pod: together they can enter and control every process on
// the node (nsenter -t 1).
type hostPIDPrivileged struct{}

func defineHostPIDPrivileged() Definition {
	return Definition{
		Meta: Meta{
			ID:      "hostpid-privileged",
			Default: config.Enforce,
			Summary: "`hostPID: true` and a container is privileged or adds `SYS_ADMIN` or `ALL` (any case, with or without `CAP_`)",
			Why:     "together they can enter and control every process on the node (nsenter -t 1)",
			Reads:   []string{"spec.template.spec.hostPID", "spec.template.spec.*containers[*].securityContext.privileged", "spec.template.spec.*containers[*].securityContext.capabilities.add"},
		},
		New: func(Options) Rule { return hostPIDPrivileged{} },
	}
}

func (hostPIDPrivileged) Validate(_ context.Context, t *Target) field.ErrorList {
	spec := &t.DaemonSet.Spec.Template.Spec
	if !spec.HostPID {
		return nil
	}
	var errs field.ErrorList
	forEachContainer(spec, func(c containerRef) {
		if c.security == nil {
			return
		}
		sc := c.field().Child("securityContext")
		if c.security.Privileged != nil && *c.security.Privileged {
			errs = append(errs, field.Forbidden(sc.Child("privileged"),
				"hostPID is true and "+containerKind(c.list)+" \""+c.name+"\" is privileged: it can enter every process on the node; drop privileged (add only the capabilities it needs) or drop hostPID"))
		}
		if c.security.Capabilities == nil {
			return
		}
		for k, capability := range c.security.Capabilities.Add {
			switch name := capabilityName(string(capability)); name {
			case "SYS_ADMIN", "ALL":
				errs = append(errs, field.Forbidden(sc.Child("capabilities", "add").Index(k),
					"hostPID is true and "+containerKind(c.list)+" \""+c.name+"\" adds capability "+name+": it can enter every process on the node; add only the narrow capabilities it needs or drop hostPID"))
			}
		}
	})
	return errs
}
