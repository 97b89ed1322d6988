package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// unknownWritableHostPath denies a writable mount of a host path that no
// list classifies, by a container the manifest does not prove
// unprivileged: daemonguard does not know what on the node reads, runs or
// trusts what is there, and root can replace it.
type unknownWritableHostPath struct{ known *knowledge }

func defineUnknownWritableHostPath() Definition {
	return Definition{
		Meta: Meta{
			ID:      "unknown-writable-hostpath",
			Default: config.Enforce,
			Summary: "a writable mount of a host path that is neither known safe (the built-in list of what agents need, or the policy's `validation.allowedHostPaths`) nor on a path rule's list, by a container that is not proven unprivileged (a non-zero `runAsUser` and `runAsGroup`, `allowPrivilegeEscalation: false`, no capability that bypasses file permissions)",
			Why:     "daemonguard does not know what on the node reads, runs or trusts what is there, and root in the container can replace it",
			Reads: []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts", "spec.template.spec.*containers[*].env",
				"spec.template.spec.securityContext", "spec.template.spec.*containers[*].securityContext"},
			Precondition: precondition.HostPath,
		},
		New: func(o Options) Rule { return unknownWritableHostPath{known: newKnowledge(o)} },
	}
}

func (r unknownWritableHostPath) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if !m.Writable || r.known.known(m, false) || r.known.safe(m, Read|Write) {
			continue
		}
		id := t.identity(m)
		why := id.PrivilegeReason()
		if why == "" {
			// Proven unprivileged: it writes only where the node's file
			// modes let any user.
			continue
		}
		errs = append(errs, forbidden(m.Field(),
			m.String()+m.writably()+", a host path daemonguard does not know: it cannot tell what on the node reads, runs or trusts what is there, and the container "+why+
				", so it can replace it. Mount it readOnly: true; or, if nothing on your nodes uses that path, an admin adds "+m.allowLine(), t.unknownGrant(m)))
	}
	return errs
}
