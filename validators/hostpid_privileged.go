package validators

import "k8s.io/apimachinery/pkg/util/validation/field"

// hostPIDPrivileged forbids privileged containers, or ones adding SYS_ADMIN or
// ALL, in a hostPID pod: together they can enter and control every process on
// the node (nsenter -t 1).
type hostPIDPrivileged struct{}

func (hostPIDPrivileged) ID() string            { return "hostpid-privileged" }
func (hostPIDPrivileged) DefaultAction() Action { return Enforce }

func (hostPIDPrivileged) Validate(t *Target) field.ErrorList {
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
