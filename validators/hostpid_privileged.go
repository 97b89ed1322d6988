package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// hostPIDPrivileged forbids privileged containers, and ones adding SYS_ADMIN,
// ALL or another capability as strong next to the host's processes
// (SYS_MODULE, SYS_RAWIO, DAC_READ_SEARCH, BPF, PERFMON, SYS_BOOT), in a
// hostPID pod: together they can enter and control every process on the
// node (nsenter -t 1). A privileged or SYS_ADMIN container that mounts the
// host's /proc (or "/") is judged as hostPID: it reaches the same
// processes through /proc/<pid>/ns.
type hostPIDPrivileged struct{}

func defineHostPIDPrivileged() Definition {
	return Definition{
		Meta: Meta{
			ID:           "hostpid-privileged",
			Default:      config.Enforce,
			Summary:      "`hostPID: true` and a container is privileged or adds `SYS_ADMIN`, `ALL`, `SYS_MODULE`, `SYS_RAWIO`, `DAC_READ_SEARCH`, `BPF`, `PERFMON` or `SYS_BOOT` (any case, with or without `CAP_`); a privileged or `SYS_ADMIN` container that mounts the host's `/proc`, `/proc/<pid>` or `/` counts as hostPID",
			Why:          "together they can enter and control every process on the node (nsenter -t 1) or the kernel itself",
			Reads:        []string{"spec.template.spec.hostPID", "spec.template.spec.*containers[*].securityContext.privileged", "spec.template.spec.*containers[*].securityContext.capabilities.add", "spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts"},
			Precondition: precondition.And(precondition.Or(precondition.HostPID, precondition.HostPath), precondition.Escalates),
		},
		New: func(Options) Rule { return hostPIDPrivileged{} },
	}
}

func (hostPIDPrivileged) Validate(_ context.Context, t *Target) field.ErrorList {
	spec := &t.DaemonSet.Spec.Template.Spec
	var errs field.ErrorList
	forEachContainer(spec, func(c containerRef) {
		if c.security == nil {
			return
		}
		hostPID, door := t.hostPIDDoor(&c)
		if !hostPID {
			return
		}
		sc := c.field().Child("securityContext")
		key := containerKind(c.list) + " " + c.name
		fix := " or drop hostPID"
		if door != nil {
			fix = " or remove the host /proc mount"
		}
		if privileged(c.security) {
			errs = append(errs, forbidden(sc.Child("privileged"),
				hostPIDReason(&c, door)+" is privileged: it can enter every process on the node; drop privileged (add only the capabilities it needs)"+fix,
				key+" privileged"))
		}
		if c.security.Capabilities == nil {
			return
		}
		for k, capability := range c.security.Capabilities.Add {
			name := capabilityName(string(capability))
			why := strongCapability(name)
			if why == "" {
				continue
			}
			if name == "SYS_ADMIN" || name == "ALL" {
				why = "it can enter every process on the node"
			}
			errs = append(errs, forbidden(sc.Child("capabilities", "add").Index(k),
				hostPIDReason(&c, door)+" adds capability "+name+": "+why+"; add only the narrow capabilities it needs"+fix,
				key+" capability "+name))
		}
	})
	return errs
}
