package validators

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// bidirectionalMountPropagation forbids Bidirectional propagation on hostPath
// mounts: mounts made inside the container then appear on the host, where
// they can shadow any host directory.
type bidirectionalMountPropagation struct{}

func defineBidirectionalMountPropagation() Definition {
	return Definition{
		Meta: Meta{
			ID:           "bidirectional-mount-propagation",
			Default:      config.Enforce,
			Summary:      "`mountPropagation: Bidirectional` on a hostPath mount",
			Why:          "mounts made in the container appear on the host, where they can shadow any host directory",
			Reads:        []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts[*].mountPropagation"},
			Precondition: precondition.HostPath,
		},
		New: func(Options) Rule { return bidirectionalMountPropagation{} },
	}
}

func (bidirectionalMountPropagation) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if m.Unmounted {
			continue
		}
		if p := m.Mount.MountPropagation; p != nil && *p == corev1.MountPropagationBidirectional {
			errs = append(errs, forbidden(m.Field().Child("mountPropagation"),
				m.String()+" with Bidirectional propagation, so mounts made in the container appear on the host; use HostToContainer", t.grant(m)))
		}
	}
	return errs
}
