package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// hostPIDWritableHostPath forbids writable hostPath mounts in a hostPID pod:
// with the host's process table visible, a writable host directory is a short
// step from writing into another process's root (/proc/<pid>/root).
type hostPIDWritableHostPath struct{}

func defineHostPIDWritableHostPath() Definition {
	return Definition{
		Meta: Meta{
			ID:           "hostpid-writable-hostpath",
			Default:      config.Enforce,
			Summary:      "`hostPID: true` and any container, init container or ephemeral container mounts a hostPath volume without `readOnly: true`",
			Why:          "with the host's process table visible, a writable host directory is a short step from writing into another process's root",
			Reads:        []string{"spec.template.spec.hostPID", "spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts"},
			Precondition: precondition.And(precondition.HostPID, precondition.HostPath),
		},
		New: func(Options) Rule { return hostPIDWritableHostPath{} },
	}
}

func (hostPIDWritableHostPath) Validate(_ context.Context, t *Target) field.ErrorList {
	if !t.DaemonSet.Spec.Template.Spec.HostPID {
		return nil
	}
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if m.Writable {
			errs = append(errs, forbidden(m.Field(),
				"hostPID is true and "+m.String()+m.writably()+": with every host process visible, a writable host directory is a short step from writing into another process's root; set readOnly: true on this mount or drop hostPID", t.grant(m)))
		}
	}
	return errs
}
