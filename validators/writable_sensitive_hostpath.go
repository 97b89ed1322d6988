package validators

import (
	"context"

	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/webhook/config"
)

// defaultSensitiveHostPaths are host paths no DaemonSet may mount writable:
// the node's root, its configuration, binaries, kernel interfaces, and the
// state of the kubelet, etcd and the container runtimes.
var defaultSensitiveHostPaths = [...]string{
	"/", "/etc", "/root", "/boot", "/usr", "/bin", "/sbin", "/lib", "/lib64",
	"/proc", "/sys", "/dev", "/var/lib/kubelet", "/var/lib/etcd", "/etc/kubernetes",
	"/var/lib/docker", "/var/lib/containerd",
	// Beyond the original list: each is root on the node when writable. The
	// kubelet runs /opt/cni/bin's binaries as root for every pod; CRI-O and
	// Podman keep images and layers in /var/lib/containers, k3s and RKE2
	// their state and tokens in /var/lib/rancher; cron runs /var/spool/cron.
	"/opt/cni/bin", "/var/lib/containers", "/var/lib/rancher", "/var/spool/cron",
}

// DefaultSensitiveHostPaths returns the built-in list (a copy).
func DefaultSensitiveHostPaths() []string {
	return append([]string(nil), defaultSensitiveHostPaths[:]...)
}

// writableSensitiveHostPath forbids writable mounts of a sensitive host path,
// of a directory that contains one, or of anything inside one.
type writableSensitiveHostPath struct{ paths []string }

func defineWritableSensitiveHostPath() Definition {
	return Definition{
		Meta: Meta{
			ID:      "writable-sensitive-hostpath",
			Default: config.Enforce,
			Summary: "a writable mount of a sensitive path, of a directory containing one (`/var` contains `/var/lib/kubelet`), or of anything inside one (`/etc/cni/net.d`). `/` matches only itself.",
			Why:     "the node runs, trusts or configures itself from these paths as root",
			Reads:   []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts"},
		},
		New: func(o Options) Rule { return newWritableSensitiveHostPath(o.SensitiveHostPaths) },
	}
}

func newWritableSensitiveHostPath(paths []string) writableSensitiveHostPath {
	if paths == nil {
		paths = defaultSensitiveHostPaths[:]
	}
	// As for runtime sockets: a path under /run is also reachable as
	// /var/run, so a writable mount of /var contains it.
	var all []string
	for _, p := range cleanAll(paths) {
		all = append(all, p)
		if p == "/run" || strings.HasPrefix(p, "/run/") {
			all = append(all, "/var"+p)
		}
	}
	return writableSensitiveHostPath{paths: all}
}

func (r writableSensitiveHostPath) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if !m.Writable {
			continue
		}
		for _, p := range r.paths {
			if rel := m.relate(p, true); rel != unrelated {
				errs = append(errs, field.Forbidden(m.Field(),
					m.String()+" writable, "+rel.describe(p, "sensitive host path")+"; set readOnly: true"))
				break
			}
		}
	}
	return errs
}
