package validators

import (
	"context"
	corev1 "k8s.io/api/core/v1"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// hostPIDAsRoot warns about a container that sees the host's processes
// (hostPID, or the host's /proc mounted) and may run as root. The kernel lets
// a process open /proc/<pid>/root and /proc/<pid>/environ of any process with
// the same uid whose capabilities are no more than its own (ptrace access
// mode READ_FSCREDS: __ptrace_may_access and cap_ptrace_access_check), which
// are the other root containers on the node with the runtime's default
// capabilities: their files, secret volumes and service-account tokens.
// Stronger findings of the same container (privileged, kernel-strength
// capabilities, SYS_PTRACE) are other rules'.
type hostPIDAsRoot struct{}

func defineHostPIDAsRoot() Definition {
	return Definition{
		Meta: Meta{
			ID:      "hostpid-as-root",
			Default: config.Warn,
			Summary: "`hostPID: true` (or a mount of the host's `/proc`, `/proc/<pid>` or `/`) and a container that may run as root (uid 0 or unset without `runAsNonRoot`, group 0, a capability that bypasses file permissions) and is neither privileged nor adds a capability another hostPID rule judges",
			Why:     "root in the container opens /proc/<pid>/root of every other container running as root with the default capabilities: their files, secrets and service-account tokens",
			Reads: []string{"spec.template.spec.hostPID", "spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts",
				"spec.template.spec.securityContext", "spec.template.spec.*containers[*].securityContext"},
			Precondition: precondition.Or(precondition.HostPID, precondition.HostPath),
		},
		New: func(Options) Rule { return hostPIDAsRoot{} },
	}
}

func (hostPIDAsRoot) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	t.hostProcessContainers(func(c containerRef, at *field.Path, door string, id Identity) {
		why := id.RootReason()
		if why == "" {
			return
		}
		errs = append(errs, forbidden(at,
			door+" and "+containerKind(c.list)+" "+quote(c.name)+" "+why+
				": it can open /proc/<pid>/root of every other container that runs as root with no more capabilities, and read and write their files, secret volumes and service-account tokens; run it as non-root (runAsNonRoot: true, a non-zero runAsUser and runAsGroup)",
			containerKind(c.list)+" "+c.name+" host processes as root"))
	})
	return errs
}

// hostProcessContainers calls visit for each container that sees the
// host's processes and is neither privileged nor adds a capability another
// hostPID rule judges, with how it sees them and its identity as ptrace
// access checks see it (uids, gids, capabilities).
func (t *Target) hostProcessContainers(visit func(c containerRef, at *field.Path, door string, id Identity)) {
	spec := &t.DaemonSet.Spec.Template.Spec
	forEachContainer(spec, func(c containerRef) {
		if privileged(c.security) || addsJudgedCapability(c.security) {
			return
		}
		if at, door := t.hostProcesses(c); at != nil {
			visit(c, at, door, identityOf(spec.SecurityContext, c.security).processes())
		}
	})
}

// hostProcesses is how container c sees the host's processes, as a field
// and a clause for messages: hostPID, or its mount of the host's /proc;
// nil when it does not.
func (t *Target) hostProcesses(c containerRef) (*field.Path, string) {
	if t.DaemonSet.Spec.Template.Spec.HostPID {
		return field.NewPath("spec", "template", "spec", "hostPID"), "hostPID is true"
	}
	m := t.procMount(c.list, c.index)
	if m == nil {
		return nil, ""
	}
	return m.Field(), containerKind(c.list) + " " + quote(c.name) + " mounts the host's /proc (host path " + quote(m.effectivePath()) + ")"
}

// addsJudgedCapability reports whether the container adds a capability
// that hostpid-privileged or the ptrace rules judge with hostPID.
func addsJudgedCapability(sc *corev1.SecurityContext) bool {
	if sc == nil || sc.Capabilities == nil {
		return false
	}
	for _, c := range sc.Capabilities.Add {
		name := capabilityName(string(c))
		if name == "SYS_PTRACE" || strongCapability(name) != "" {
			return true
		}
	}
	return false
}

// procMount is the container's mount of the host's /proc, of a process's
// directory in it, or of "/" (which brings /proc along), or nil.
func (t *Target) procMount(list string, index int) *HostMount {
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if m.Unmounted || m.ContainerList != list || m.ContainerIndex != index || m.WindowsOnly || m.Child {
			continue
		}
		if isProcDoor(m.HostPath) || (m.ViaProc != "" && isProcDoor(m.ViaProc)) {
			return m
		}
	}
	return nil
}
