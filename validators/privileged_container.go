package validators

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// privilegedContainer flags privileged containers, and ones adding SYS_ADMIN,
// ALL or another capability as strong (SYS_MODULE, SYS_RAWIO,
// DAC_READ_SEARCH, BPF, PERFMON, SYS_BOOT), in pods without hostPID (with
// hostPID, or with the host's /proc mounted by a container that can setns,
// hostpid-privileged applies), and Windows HostProcess
// containers, which are the Windows spelling of the same full access to the
// node. Privileged is rarely what a node agent needs: a few capabilities
// usually do.
type privilegedContainer struct{}

func definePrivilegedContainer() Definition {
	return Definition{
		Meta: Meta{
			ID:           "privileged-container",
			Default:      config.Warn,
			Summary:      "in a pod without hostPID, a privileged container or one adding `SYS_ADMIN`, `ALL`, `SYS_MODULE`, `SYS_RAWIO`, `DAC_READ_SEARCH`, `BPF`, `PERFMON` or `SYS_BOOT` (unless it mounts the host's `/proc`: then `hostpid-privileged` denies it); and a Windows HostProcess pod or container (the same full access to the node)",
			Why:          "a privileged container has every capability and every host device, and can remount read-only host paths writable",
			Reads:        []string{"spec.template.spec.hostPID", "spec.template.spec.securityContext.windowsOptions.hostProcess", "spec.template.spec.*containers[*].securityContext"},
			Precondition: precondition.Or(precondition.Escalates, hostProcessCondition),
		},
		New: func(Options) Rule { return privilegedContainer{} },
	}
}

func (privilegedContainer) Validate(_ context.Context, t *Target) field.ErrorList {
	spec := &t.DaemonSet.Spec.Template.Spec
	var errs field.ErrorList
	if sc := spec.SecurityContext; sc != nil && hostProcess(sc.WindowsOptions) {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "template", "spec", "securityContext", "windowsOptions", "hostProcess"),
			"the pod runs as a Windows HostProcess pod: every container has full access to the node; use a normal container with only the access it needs"))
	}
	forEachContainer(spec, func(c containerRef) {
		if c.security == nil {
			return
		}
		key := containerKind(c.list) + " " + c.name
		// With hostPID, or the host's /proc as its door, hostpid-privileged
		// judges the container instead.
		if hostPID, _ := t.hostPIDDoor(&c); !hostPID {
			if privileged(c.security) {
				errs = append(errs, forbidden(c.field().Child("securityContext", "privileged"),
					containerKind(c.list)+" "+quote(c.name)+" is privileged: it has every capability and every host device; add only the capabilities it needs", key+" privileged"))
			}
			if c.security.Capabilities != nil {
				for k, capability := range c.security.Capabilities.Add {
					name := capabilityName(string(capability))
					why := strongCapability(name)
					if _, rootByItself := rootCapabilities[name]; rootByItself {
						// kernel-capability's, where the container can
						// use it; a non-root uid cannot.
						continue
					}
					switch name {
					case "":
						continue
					case "SYS_ADMIN", "ALL":
						// Privileged in all but name: mount, remount a
						// read-only hostPath writable, and more.
						why = "it can mount, and remount read-only host paths writable"
					}
					if why == "" {
						continue
					}
					errs = append(errs, forbidden(c.field().Child("securityContext", "capabilities", "add").Index(k),
						containerKind(c.list)+" "+quote(c.name)+" adds capability "+name+": "+why+"; add only the narrow capabilities it needs", key+" capability "+name))
				}
			}
		}
		if hostProcess(c.security.WindowsOptions) {
			errs = append(errs, field.Forbidden(c.field().Child("securityContext", "windowsOptions", "hostProcess"),
				containerKind(c.list)+" \""+c.name+"\" is a Windows HostProcess container: it has full access to the node; use a normal container with only the access it needs"))
		}
	})
	return errs
}

// hostProcessCondition: the pod is a Windows HostProcess pod (a container
// that is one is in precondition.Escalates).
var hostProcessCondition = precondition.Atom("a HostProcess pod", precondition.IsTrue(precondition.Spec, "securityContext", "windowsOptions", "hostProcess"))

func hostProcess(w *corev1.WindowsSecurityContextOptions) bool {
	return w != nil && w.HostProcess != nil && *w.HostProcess
}
