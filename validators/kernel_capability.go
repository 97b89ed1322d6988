package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// kernelCapability denies the capabilities that are root on the node by
// themselves, without hostPID or a hostPath, in a container that can use
// them: one that may run as uid 0, or become it through a setuid binary
// (the runtime's exec drops added capabilities for a non-root uid: shown on
// containerd 1.6, TestIdentity case 3). With hostPID, hostpid-privileged
// judges them.
type kernelCapability struct{}

// rootCapabilities say why each capability is root on the node by itself.
var rootCapabilities = map[string]string{
	"SYS_MODULE":      "it can load a kernel module (init_module), which is kernel code",
	"SYS_BOOT":        "it can kexec a new kernel (kexec_load) or reboot the node",
	"DAC_READ_SEARCH": "it can open any file of the host filesystem by handle (open_by_handle_at, the shocker breakout), keys included",
	"SYS_RAWIO":       "it can reach I/O ports and raw devices (iopl, ioperm), below every kernel protection",
}

func defineKernelCapability() Definition {
	return Definition{
		Meta: Meta{
			ID:      "kernel-capability",
			Default: config.Enforce,
			Summary: "a container of a pod without hostPID adds `SYS_MODULE`, `SYS_BOOT`, `DAC_READ_SEARCH` or `SYS_RAWIO` (any case, with or without `CAP_`) and may run as uid 0 or become it (no `runAsNonRoot`/non-zero `runAsUser`, or `allowPrivilegeEscalation` not false); with hostPID, `hostpid-privileged` judges them",
			Why:     "each is root on the node by itself: a kernel module, a new kernel, any host file by handle, raw I/O",
			Reads: []string{"spec.template.spec.hostPID", "spec.template.spec.*containers[*].securityContext.capabilities.add",
				"spec.template.spec.securityContext", "spec.template.spec.*containers[*].securityContext"},
			Precondition: precondition.Escalates,
		},
		New: func(Options) Rule { return kernelCapability{} },
	}
}

func (kernelCapability) Validate(_ context.Context, t *Target) field.ErrorList {
	spec := &t.DaemonSet.Spec.Template.Spec
	var errs field.ErrorList
	forEachContainer(spec, func(c containerRef) {
		if c.security == nil || c.security.Capabilities == nil {
			return
		}
		if hostPID, _ := t.hostPIDDoor(&c); hostPID {
			return
		}
		id := identityOf(spec.SecurityContext, c.security)
		if !id.RootUser && !id.Escalates {
			return
		}
		for k, capability := range c.security.Capabilities.Add {
			name := capabilityName(string(capability))
			why, ok := rootCapabilities[name]
			if !ok {
				continue
			}
			as := "may run as uid 0"
			if !id.RootUser {
				as = "may become uid 0 through a setuid binary in its image (allowPrivilegeEscalation is not false)"
			}
			errs = append(errs, forbidden(c.field().Child("securityContext", "capabilities", "add").Index(k),
				containerKind(c.list)+" "+quote(c.name)+" adds capability "+name+" and "+as+": "+why+"; drop it, or run as a non-root uid with allowPrivilegeEscalation: false if a file capability of its program needs it",
				containerKind(c.list)+" "+c.name+" capability "+name))
		}
	})
	return errs
}
