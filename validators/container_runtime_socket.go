package validators

import (
	"context"

	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// defaultRuntimeSockets are the container runtime sockets daemonguard knows,
// and the runtime state directories that hold more of them: Docker (and its
// own containerd under /run/docker), dockershim, containerd (containerd.sock,
// its ttrpc socket, and the shim sockets under /run/containerd/s, each a task
// API into running containers), CRI-O, cri-dockerd, k3s/RKE2's containerd,
// Podman, MicroK8s's and k0s's containerd, Bottlerocket's host containerd,
// NRI (the runtimes' plugin socket: a plugin adjusts every container's
// mounts, devices and OCI hooks), the OCI runtimes' state (runc's default
// root, and crun's, CRI-O's default runtime root), and Talos's system
// containerd. A mount of any of them, of anything inside one, or of a
// directory containing one is flagged.
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
	"/run/nri",
	"/run/runc",
	"/run/crun",
	"/system/run/containerd",
}

// windowsRuntimePipes are the runtimes' named pipes on Windows nodes
// (containerd's default address, Docker's engine, cri-dockerd and
// dockershim), in windowsPath's form. Not configurable.
var windowsRuntimePipes = [...]string{
	`\\.\pipe\containerd-containerd`,
	`\\.\pipe\docker_engine`,
	`\\.\pipe\cri-dockerd`,
	`\\.\pipe\dockershim`,
}

// DefaultRuntimeSockets returns the built-in list (a copy).
func DefaultRuntimeSockets() []string { return append([]string(nil), defaultRuntimeSockets[:]...) }

// WindowsRuntimePipes returns the built-in Windows list (a copy).
func WindowsRuntimePipes() []string { return append([]string(nil), windowsRuntimePipes[:]...) }

// containerRuntimeSocket forbids any mount, read-only or not, of a runtime
// socket or a directory holding one: connect(2) needs no write access to the
// mount, and the runtime API controls every container on the node.
//
// A plain mount of "/" (or of /proc/1/root, the same directory) is left to
// writable-sensitive-hostpath: a read-only host root is the node-exporter
// pattern, and flagging it here would deny the most common monitoring
// agent. Only the plain mount: with a subPath or subPathExpr, "/" is a way
// to spell any path. Because /var/run is /run only where it is a symlink, a
// socket under /run also protects the /var/run spelling, so a mount of /var
// is flagged too.
type containerRuntimeSocket struct{ sockets pathList }

func defineContainerRuntimeSocket() Definition {
	return Definition{
		Meta: Meta{
			ID:           "container-runtime-socket",
			Default:      config.Enforce,
			Summary:      "any mount, read-only or not, of a runtime socket, of anything inside a runtime socket directory (`/run/containerd/s` holds containerd's shim sockets, a task API into every container), or of a directory containing one (`/run`, `/var/run`, `/var`). Defaults cover Docker, dockershim, containerd, CRI-O, cri-dockerd, k3s/RKE2, Podman, MicroK8s, k0s, Bottlerocket, Talos, NRI, the runc/crun state directories, and on Windows the containerd, Docker and cri-dockerd pipes. A plain read-only mount of `/` (the node-exporter pattern) is left to `writable-sensitive-hostpath`; with a `subPath` or `subPathExpr` it is not.",
			Why:          "whoever reaches the runtime API controls every container on the node, even through a read-only mount",
			Reads:        []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts", "spec.template.spec.*containers[*].env"},
			Precondition: precondition.HostPath,
		},
		New: func(o Options) Rule { return newContainerRuntimeSocket(o.RuntimeSockets) },
	}
}

func newContainerRuntimeSocket(sockets []string) containerRuntimeSocket {
	if sockets == nil {
		sockets = defaultRuntimeSockets[:]
	}
	return containerRuntimeSocket{sockets: newPathList(sockets, windowsRuntimePipes[:])}
}

func (r containerRuntimeSocket) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if m.plainRoot() {
			continue
		}
		if rel, s := r.sockets.match(m); rel != unrelated {
			errs = append(errs, forbidden(m.Field(),
				m.String()+", "+rel.describe(s, socketKind(s))+
					"; whoever reaches it controls every container on the node, even through a read-only mount", m.key()))
		}
	}
	return errs
}

// socketKind names a configured entry in messages: a socket file, or a
// runtime directory holding several.
func socketKind(path string) string {
	if strings.HasSuffix(path, ".sock") || strings.HasPrefix(path, pipePrefix) {
		return "container runtime socket"
	}
	return "container runtime socket directory"
}
