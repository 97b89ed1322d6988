package validators

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// bidirectionalMountPropagation forbids Bidirectional propagation on hostPath
// mounts: mounts made inside the container then appear on the host, where
// they can shadow any host directory.
type bidirectionalMountPropagation struct{}

func (bidirectionalMountPropagation) ID() string            { return "bidirectional-mount-propagation" }
func (bidirectionalMountPropagation) DefaultAction() Action { return Enforce }

func (bidirectionalMountPropagation) Validate(t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if p := m.Mount.MountPropagation; p != nil && *p == corev1.MountPropagationBidirectional {
			errs = append(errs, field.Forbidden(m.Field().Child("mountPropagation"),
				m.String()+" with Bidirectional propagation, so mounts made in the container appear on the host; use HostToContainer"))
		}
	}
	return errs
}
