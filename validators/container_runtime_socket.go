package validators

import (
	"context"

	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/webhook/config"
)

// defaultRuntimeSockets are the container runtime sockets daemonguard knows,
// and the runtime state directories that hold more of them: Docker (and its
// own containerd under /run/docker), dockershim, containerd (containerd.sock,
// its ttrpc socket, and the shim sockets under /run/containerd/s, each a task
// API into running containers), CRI-O, cri-dockerd, k3s/RKE2's containerd,
// Podman, MicroK8s's and k0s's containerd, and Bottlerocket's host containerd. A mount of any of them, of anything
// inside one, or of a directory containing one is flagged.
var defaultRuntimeSockets = [...]string{
	"/run/docker.sock",
	"/run/docker",
	"/run/dockershim.sock",
	"/run/containerd",
	"/run/crio",
	"/run/cri-dockerd.sock",
	"/run/k3s/containerd",
	"/run/podman",
	"/var/snap/microk8s/common/run",
	"/run/k0s",
	"/run/host-containerd",
}

// DefaultRuntimeSockets returns the built-in list (a copy).
func DefaultRuntimeSockets() []string { return append([]string(nil), defaultRuntimeSockets[:]...) }

// containerRuntimeSocket forbids any mount, read-only or not, of a runtime
// socket or a directory holding one: connect(2) needs no write access to the
// mount, and the runtime API controls every container on the node.
//
// A mount of "/" (or of /proc/1/root, the same directory) is left to
// writable-sensitive-hostpath: a read-only host root is the node-exporter
// pattern, and flagging it here would deny the most common monitoring agent. Because /var/run is /run only where it is a
// symlink, a socket under /run also protects the /var/run spelling, so a
// mount of /var is flagged too.
type containerRuntimeSocket struct{ sockets []string }

func defineContainerRuntimeSocket() Definition {
	return Definition{
		Meta: Meta{
			ID:      "container-runtime-socket",
			Default: config.Enforce,
			Summary: "any mount, read-only or not, of a runtime socket, of anything inside a runtime socket directory (`/run/containerd/s` holds containerd's shim sockets, a task API into every container), or of a directory containing one (`/run`, `/var/run`, `/var`). Defaults cover Docker, dockershim, containerd, CRI-O, cri-dockerd, k3s/RKE2, Podman and MicroK8s. A read-only mount of `/` (the node-exporter pattern) is left to `writable-sensitive-hostpath`, which denies it only when writable.",
			Why:     "whoever reaches the runtime API controls every container on the node, even through a read-only mount",
			Reads:   []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts"},
		},
		New: func(o Options) Rule { return newContainerRuntimeSocket(o.RuntimeSockets) },
	}
}

func newContainerRuntimeSocket(sockets []string) containerRuntimeSocket {
	if sockets == nil {
		sockets = defaultRuntimeSockets[:]
	}
	var all []string
	for _, s := range cleanAll(sockets) {
		all = append(all, s)
		if strings.HasPrefix(s, "/run/") {
			all = append(all, "/var"+s)
		}
	}
	return containerRuntimeSocket{sockets: all}
}

func (r containerRuntimeSocket) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if m.HostPath == "/" {
			continue
		}
		for _, s := range r.sockets {
			if rel := m.relate(s, false); rel != unrelated {
				errs = append(errs, field.Forbidden(m.Field(),
					m.String()+", "+rel.describe(s, socketKind(s))+
						"; whoever reaches it controls every container on the node, even through a read-only mount"))
				break
			}
		}
	}
	return errs
}

// socketKind names a configured entry in messages: a socket file, or a
// runtime directory holding several.
func socketKind(path string) string {
	if strings.HasSuffix(path, ".sock") {
		return "container runtime socket"
	}
	return "container runtime socket directory"
}
