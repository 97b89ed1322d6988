package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// nestedHostPath forbids a hostPath mount that lies inside the host path of
// another hostPath volume of the same pod that some container mounts
// writable (or that no container mounts, which an ephemeral container can
// mount writable). The kubelet only checks a hostPath's type and the
// runtime's bind mount follows symlinks, so the writer plants a symlink
// (before the other container starts, or before it restarts) and the other
// mount lands wherever it points. A mount of the same path or of a directory
// above the writable one is not flagged: its own path holds nothing the
// writer can replace (the writer cannot replace its mount's root), and a
// symlink followed inside it resolves in the reading container's own root,
// so it gives no access that mount did not already give. One volume mounted
// twice is not nested: its subPaths are resolved by the kubelet without
// following symlinks.
type nestedHostPath struct{}

func defineNestedHostPath() Definition {
	return Definition{
		Meta: Meta{
			ID:           "nested-hostpath",
			Default:      config.Enforce,
			Summary:      "a hostPath mount whose host path lies inside the host path of another hostPath volume of the pod that is mounted writable (or mounted by no container)",
			Why:          "a symlink planted through the writable mount redirects the other mount to any host path, which the runtime follows as root",
			Reads:        []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts"},
			Precondition: precondition.HostPath,
		},
		New: func(Options) Rule { return nestedHostPath{} },
	}
}

func (nestedHostPath) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		for j := range t.HostMounts {
			w := &t.HostMounts[j]
			if !w.Writable || w.VolumeIndex == m.VolumeIndex {
				continue
			}
			if nested(m, w) != under {
				continue
			}
			writer := "which " + containerKind(w.ContainerList) + " " + quote(w.Container) + " mounts writable"
			if w.Unmounted {
				writer = "which no container mounts, so an ephemeral container can mount it writable"
			}
			errs = append(errs, forbidden(m.Field(),
				m.String()+", which lies inside "+quote(w.hostPathForNesting())+" (volume "+quote(w.Volume)+"), "+writer+
					": a symlink planted through the writable mount redirects this mount to any host path; mount the host directory once and use subPath (the kubelet resolves it without following symlinks), or make the other mount read-only",
				m.key()+" nested with "+w.key()))
			break
		}
	}
	return errs
}

// hostPathForNesting is the path a message names for w.
func (w *HostMount) hostPathForNesting() string {
	if w.WindowsOnly {
		return windowsDisplay(w.Windows)
	}
	return w.effectivePath()
}

// nested relates m's host path to w's, in whichever reading both have.
func nested(m, w *HostMount) relation {
	if !m.WindowsOnly && !w.WindowsOnly {
		a, b := m.effectivePath(), w.effectivePath()
		switch {
		case a == b:
			return same
		case b == "/" || inside(a, b):
			return under
		case a == "/" || inside(b, a):
			return ancestor
		}
	}
	if m.Windows != "" && w.Windows != "" {
		a, b := m.Windows, w.Windows
		switch {
		case a == b:
			return same
		case inside(a, b):
			return under
		case inside(b, a):
			return ancestor
		}
	}
	return unrelated
}
