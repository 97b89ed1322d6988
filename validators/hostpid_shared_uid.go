package validators

import (
	"context"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// hostPIDSharedUID warns about a container that sees the host's processes
// (hostPID, or the host's /proc mounted) as a non-root uid. The kernel lets
// a process open /proc/<pid>/root and /proc/<pid>/environ of any process
// whose uids and gids all equal its own and whose capabilities are no more
// than its own (__ptrace_may_access, PTRACE_MODE_READ_FSCREDS), across pid
// namespaces, and the runtime's default AppArmor profile allows it between
// containers: every other pod that runs with the same ids (65534, "nobody",
// is the default of many charts, kube-state-metrics' among them) hands over
// its files and service-account token. Root is hostpid-as-root's.
type hostPIDSharedUID struct{}

func defineHostPIDSharedUID() Definition {
	return Definition{
		Meta: Meta{
			ID:      "hostpid-shared-uid",
			Default: config.Warn,
			Summary: "`hostPID: true` (or a mount of the host's `/proc`, `/proc/<pid>` or `/`) and a container that runs as a non-root uid (the same uid and gid reach every process that runs with them), neither privileged nor adding a capability another hostPID rule judges",
			Why:     "a process opens /proc/<pid>/root and environ of every process with its own uid and gid, other pods' included: their files, secrets and service-account tokens, when they share its ids (65534 is many charts' default)",
			Reads: []string{"spec.template.spec.hostPID", "spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts",
				"spec.template.spec.securityContext", "spec.template.spec.*containers[*].securityContext"},
			Precondition: precondition.Or(precondition.HostPID, precondition.HostPath),
		},
		New: func(Options) Rule { return hostPIDSharedUID{} },
	}
}

func (hostPIDSharedUID) Validate(_ context.Context, t *Target) field.ErrorList {
	spec := &t.DaemonSet.Spec.Template.Spec
	var errs field.ErrorList
	t.hostProcessContainers(func(c containerRef, at *field.Path, door string, id Identity) {
		if id.RootReason() != "" {
			return // hostpid-as-root's
		}
		uid, gid := runAs(spec.SecurityContext, c.security)
		ids := "its image's uid"
		if uid != nil {
			ids = "uid " + strconv.FormatInt(*uid, 10)
		}
		if gid != nil {
			ids += " and gid " + strconv.FormatInt(*gid, 10)
		} else {
			ids += " and its image's gid"
		}
		errs = append(errs, forbidden(at,
			door+" and "+containerKind(c.list)+" "+quote(c.name)+" runs as "+ids+
				": it can open /proc/<pid>/root and environ of every process on the node that runs with the same ids, other pods' included, and read their files, secret volumes and service-account tokens; give it a uid and gid that no other workload uses",
			containerKind(c.list)+" "+c.name+" host processes as "+ids))
	})
	return errs
}

// runAs are the container's runAsUser and runAsGroup, its own over its
// pod's; nil where neither sets one (the image decides).
func runAs(pod *corev1.PodSecurityContext, sc *corev1.SecurityContext) (uid, gid *int64) {
	if pod != nil {
		uid, gid = pod.RunAsUser, pod.RunAsGroup
	}
	if sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
	}
	return uid, gid
}
