package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// unknownHostPathRead warns about a read-only mount of a host path that no
// list classifies, by a container that may run as root: it can read
// whatever node software keeps there. Where daemonguard knows keys are kept,
// credential-read denies instead.
type unknownHostPathRead struct{ known *knowledge }

func defineUnknownHostPathRead() Definition {
	return Definition{
		Meta: Meta{
			ID:      "unknown-hostpath-read",
			Default: config.Warn,
			Summary: "a read-only mount of a host path that is neither known safe nor on a path rule's list, by a container that may run as root (uid 0 or unset without `runAsNonRoot`, group 0 or a system group below 1000, a capability that bypasses file permissions, privileged); `/`, `/etc`, `/var` and `/var/lib` are `credential-ancestor-read`'s, sockets `unknown-socket`'s",
			Why:     "root in the container reads whatever node software keeps there, root-only files included",
			Reads: []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts", "spec.template.spec.*containers[*].env",
				"spec.template.spec.securityContext", "spec.template.spec.*containers[*].securityContext"},
			Precondition: precondition.HostPath,
		},
		New: func(o Options) Rule { return unknownHostPathRead{known: newKnowledge(o)} },
	}
}

func (r unknownHostPathRead) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if m.Writable || m.genericAncestor() || m.plainRoot() || m.socketLike() || r.known.known(m, true) || r.known.safe(m, Read) {
			continue
		}
		why := t.identity(m).RootReason()
		if why == "" {
			continue
		}
		errs = append(errs, forbidden(m.Field(),
			m.String()+", a host path daemonguard does not know, and the container "+why+
				": it can read whatever node software keeps there, root-only files included. Run it as non-root (runAsNonRoot: true, a non-zero runAsUser and runAsGroup); or, if nothing there is secret, an admin adds "+m.allowLine(), t.unknownGrant(m)))
	}
	return errs
}
