package validators

import (
	"context"
	"fmt"
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
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if m.Writable || !m.genericAncestor() {
			// A writable one is denied by writable-sensitive-hostpath; an
			// opaque one by credential-read.
			continue
		}
		asRoot := t.identity(m).RootReason()
		if asRoot == "" {
			continue
		}
		inside := r.paths.ancestorOf(m)
		if len(inside) == 0 {
			continue
		}
		const shown = 6
		list := strings.Join(inside[:min(shown, len(inside))], ", ")
		if len(inside) > shown {
			list += fmt.Sprintf(" and %d more", len(inside)-shown)
		}
		errs = append(errs, forbidden(m.Field(),
			m.String()+" and "+asRoot+", so it can read the credentials inside: "+list+
				"; set runAsNonRoot: true and a non-zero runAsUser and runAsGroup, or mount a narrower path", t.grant(m)))
	}
	return errs
}
