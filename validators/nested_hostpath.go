package validators

import (
	"context"
	"strconv"

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
// nestedHostPath also judges a mount strictly inside a directory other
// DaemonSets may write (sharedWritable): a symlink planted there by another
// DaemonSet, or by an earlier revision of this one, redirects the mount.
type nestedHostPath struct{ shared pathList }

// worldWritable are the node's directories any user may write (mode 1777).
var worldWritable = [...]string{"/tmp", "/var/tmp", "/dev/shm"}

// sharedWritable are the directories a DaemonSet may be admitted to write:
// the known-safe writable paths, the admin's writable allowlist entries, and
// the world-writable directories.
func sharedWritable(o Options) pathList {
	var linux, windows []string
	add := func(p string) {
		if w, _ := windowsPath(p, false); w != "" {
			windows = append(windows, w)
			return
		}
		linux = append(linux, p)
	}
	for _, s := range knownSafePaths {
		if s.Access&Write != 0 {
			add(s.Path)
		}
	}
	for _, a := range o.AllowedHostPaths {
		if !a.ReadOnly {
			add(a.PathPrefix)
		}
	}
	linux = append(linux, worldWritable[:]...)
	return newPathList(linux, windows)
}

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
		New: func(o Options) Rule { return nestedHostPath{shared: sharedWritable(o)} },
	}
}

func (r nestedHostPath) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if dir := r.redirectable(m); dir != "" {
			errs = append(errs, forbidden(m.Field(),
				m.String()+", which lies inside "+quote(dir)+", a directory other DaemonSets may write (or an earlier revision of this one)"+
					": a symlink planted there redirects this mount to any host path, which the runtime follows as root; mount "+quote(dir)+
					" itself and use subPath (the kubelet resolves subPaths without following symlinks)",
				// Not a Grant: a mount inside the old one is no narrower
				// here, it is what a planted symlink redirects.
				"redirectable "+t.grant(m).Kind+" "+strconv.Quote(m.HostPath)))
			continue
		}
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
// redirectable returns the shared writable directory the mount's volume
// path lies strictly inside, or "". Only the volume's own path counts: the
// kubelet resolves a subPath or subPathExpr below it without following
// symlinks.
func (r nestedHostPath) redirectable(m *HostMount) string {
	if m.Unmounted {
		return ""
	}
	v := *m
	v.Child, v.Opaque, v.ChildPrefix = false, false, ""
	v.setPaths(m.VolumePath, m.Windows != "" && !m.WindowsOnly)
	if rel, dir, _ := r.shared.find(&v, func(rel relation, _ string) bool { return rel == under }); rel == under {
		return dir
	}
	return ""
}

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
