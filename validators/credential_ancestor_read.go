package validators

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// credentialAncestorRead warns about a read-only mount of a generic ancestor of the
// credential paths (/, /etc, /var, /var/lib) by a container that may run as
// root: it can read every credential inside. node-exporter's read-only /
// as uid 65534 stays silent; so does any container with runAsNonRoot: true
// or a non-zero runAsUser, at container or pod level.
type credentialAncestorRead struct{ paths pathList }

func defineCredentialAncestorRead() Definition {
	return Definition{
		Meta: Meta{
			ID:           "credential-ancestor-read",
			Default:      config.Warn,
			Summary:      "a read-only mount of `/`, `/etc`, `/var` or `/var/lib` (or `C:\\`, `C:\\etc`, `C:\\var`, `C:\\var\\lib`) by a container that may run as root (no `runAsNonRoot: true` and `runAsUser` unset or 0, container over pod level); the warning names the credential paths inside. No default toleration is injected into a DaemonSet this rule finds something in.",
			Why:          "root in the container can read every credential under the mounted directory",
			Reads:        []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts", "spec.template.spec.securityContext", "spec.template.spec.*containers[*].securityContext"},
			Precondition: precondition.HostPath,
			Credentials:  true,
		},
		New: func(Options) Rule { return credentialAncestorRead{paths: credentialPaths()} },
	}
}

func (r credentialAncestorRead) Validate(_ context.Context, t *Target) field.ErrorList {
	spec := &t.DaemonSet.Spec.Template.Spec
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if m.Writable || m.Opaque || !m.genericAncestor() {
			// A writable one is denied by writable-sensitive-hostpath; an
			// opaque one by credential-read.
			continue
		}
		if !mayRunAsRoot(spec.SecurityContext, t.containerSecurity(m.ContainerList, m.ContainerIndex)) {
			continue
		}
		var inside []string
		if !m.WindowsOnly {
			for _, p := range r.paths.linux {
				if m.relate(p) == ancestor {
					inside = append(inside, quote(p))
				}
			}
		}
		if m.Windows != "" {
			for _, p := range r.paths.windows {
				if relateWindows(m.Windows, p) == ancestor {
					inside = append(inside, quote(windowsDisplay(p)))
				}
			}
		}
		if len(inside) == 0 {
			continue
		}
		errs = append(errs, forbidden(m.Field(),
			m.String()+" and may run as root, so it can read the credentials inside: "+strings.Join(inside, ", ")+
				"; set runAsNonRoot: true and a non-zero runAsUser, or mount a narrower path", m.key()+" as root"))
	}
	return errs
}
