package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// writableVarLog warns about a writable mount of /var/log itself: stock
// log shippers (the fluent-bit chart) mount it writable to keep their tail
// database there, but it contains /var/log/pods, so root in the container
// can plant a symlink that the kubelet follows for `kubectl logs` (the
// known /var/log escape).
type writableVarLog struct{ paths pathList }

func defineWritableVarLog() Definition {
	return Definition{
		Meta: Meta{
			ID:           "writable-var-log",
			Default:      config.Warn,
			Summary:      "a writable mount of `/var/log` itself (what stock log shippers do)",
			Why:          "it contains the pod logs the kubelet reads as root, so a planted symlink makes `kubectl logs` read any host file",
			Reads:        []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts"},
			Precondition: precondition.HostPath,
		},
		New: func(Options) Rule {
			return writableVarLog{paths: newPathList([]string{"/var/log"}, []string{"c:/var/log"})}
		},
	}
}

func (r writableVarLog) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if !m.Writable {
			continue
		}
		if rel, _ := r.paths.matchWhere(m, func(rel relation, _ string) bool { return rel == same }); rel == unrelated {
			continue
		}
		errs = append(errs, forbidden(m.Field(),
			m.String()+m.writably()+", which contains the pod logs the kubelet reads as root for kubectl logs: a symlink planted under /var/log/pods makes it read any host file (the known /var/log symlink escape); mount /var/log read-only and keep the agent's own state (a tail database) on an emptyDir or a dedicated writable hostPath such as /var/lib/fluent-bit", t.grant(m)))
	}
	return errs
}
