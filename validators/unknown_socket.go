package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// unknownSocket denies any mount, read-only included, of what may be a node
// daemon's socket that no list classifies — a hostPath of type Socket, a
// name ending in .sock or .socket, anything under /run, a Windows named
// pipe — by a container the manifest does not prove unprivileged: connect(2)
// needs no write access to the mount, and a daemon's socket is its control
// API, usually root's.
type unknownSocket struct{ known *knowledge }

func defineUnknownSocket() Definition {
	return Definition{
		Meta: Meta{
			ID:      "unknown-socket",
			Default: config.Enforce,
			Summary: "any mount, read-only included, of a hostPath of type `Socket`, a path ending in `.sock` or `.socket`, anything under `/run` (`/var/run`) or a Windows named pipe that is neither known safe nor on a path rule's list, by a container that is not proven unprivileged; a writable one by a container that can act as root is `unknown-writable-hostpath`'s",
			Why:     "a node daemon's socket is its control API, and connecting needs no write access to the mount",
			Reads: []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts", "spec.template.spec.*containers[*].env",
				"spec.template.spec.securityContext", "spec.template.spec.*containers[*].securityContext"},
			Precondition: precondition.HostPath,
		},
		New: func(o Options) Rule { return unknownSocket{known: newKnowledge(o)} },
	}
}

func (r unknownSocket) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if !m.socketLike() || m.plainRoot() || r.known.known(m, false) || r.known.safe(m, Read) {
			continue
		}
		why := t.identity(m).ConnectReason(RootSocket)
		if why == "" || (m.Writable && t.identity(m).PrivilegeReason() != "") {
			// Unprivileged: a daemon's socket is root's. Writable by
			// root: unknown-writable-hostpath says so.
			continue
		}
		errs = append(errs, forbidden(m.Field(),
			m.String()+", which may be a node daemon's socket daemonguard does not know: whoever connects drives that daemon, even through a read-only mount, and the container "+why+
				". Remove the mount; or, if that daemon gives its clients nothing of the node's, an admin adds "+m.allowLine(), t.unknownGrant(m)))
	}
	return errs
}
