package validators

import "k8s.io/apimachinery/pkg/util/validation/field"

// hostPIDWritableHostPath forbids writable hostPath mounts in a hostPID pod:
// with the host's process table visible, a writable host directory is a short
// step from writing into another process's root (/proc/<pid>/root).
type hostPIDWritableHostPath struct{}

func (hostPIDWritableHostPath) ID() string            { return "hostpid-writable-hostpath" }
func (hostPIDWritableHostPath) DefaultAction() Action { return Enforce }

func (hostPIDWritableHostPath) Validate(t *Target) field.ErrorList {
	if !t.DaemonSet.Spec.Template.Spec.HostPID {
		return nil
	}
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if m.Writable {
			errs = append(errs, field.Forbidden(m.Field(),
				"hostPID is true and "+m.String()+" writable; set readOnly: true on this mount or drop hostPID"))
		}
	}
	return errs
}
