package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// podLogPaths are the directories the kubelet serves `kubectl logs` from
// (pods/) and the runtime's symlinks to them (containers/).
var podLogPaths = [...]string{"/var/log/pods", "/var/log/containers"}

var windowsPodLogPaths = [...]string{"c:/var/log/pods", "c:/var/log/containers"}

// writablePodLogs forbids writable mounts of the pod log directories or of
// anything inside them: the kubelet reads those files as root and follows
// symlinks planted there, so `kubectl logs` returns any host file.
// (Writable /var/log itself is what stock log shippers do; see
// writable-var-log. Writable /var is denied by writable-sensitive-hostpath.)
type writablePodLogs struct{ paths pathList }

func defineWritablePodLogs() Definition {
	return Definition{
		Meta: Meta{
			ID:           "writable-pod-logs",
			Default:      config.Enforce,
			Summary:      "a writable mount of `/var/log/pods` or `/var/log/containers`, or of anything inside them",
			Why:          "the kubelet reads these files as root for `kubectl logs` and follows a symlink planted there to any host file",
			Reads:        []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts"},
			Precondition: precondition.HostPath,
		},
		New: func(Options) Rule {
			return writablePodLogs{paths: newPathList(podLogPaths[:], windowsPodLogPaths[:])}
		},
	}
}

func (r writablePodLogs) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if !m.Writable {
			continue
		}
		rel, p := r.paths.matchWhere(m, func(rel relation, _ string) bool { return rel != ancestor })
		if rel == unrelated {
			continue
		}
		errs = append(errs, forbidden(m.Field(),
			m.String()+m.writably()+", "+rel.describe(p, "pod log directory")+
				": the kubelet reads these files as root for kubectl logs and follows a symlink planted there to any host file; set readOnly: true", t.grant(m)))
	}
	return errs
}
