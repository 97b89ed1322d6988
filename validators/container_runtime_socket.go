package validators

import (
	"context"

	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// defaultRuntimeSockets are the container runtimes' sockets and the state
// directories that hold more of them. Access says who the socket's mode
// lets connect (RootSocket when not set).
var defaultRuntimeSockets = [...]Fact{
	{Path: "/run/docker.sock", Why: "Docker's API: creates privileged containers", Source: "https://docs.docker.com/engine/security/#docker-daemon-attack-surface", Access: GroupSocket},
	{Path: "/run/docker", Why: "Docker's run directory: its own containerd's sockets and plugins", Source: "moby/moby daemon/config/config_linux.go"},
	{Path: "/run/dockershim.sock", Why: "the kubelet's old dockershim CRI socket", Source: "kubernetes/kubernetes v1.23 pkg/kubelet/dockershim"},
	{Path: "/run/containerd", Why: "containerd's sockets: its API, ttrpc, the shims' task APIs under s/, every container's rootfs under io.containerd.runtime.v2.task", Source: "containerd/containerd defaults/defaults_unix.go"},
	{Path: "/run/crio", Why: "CRI-O's socket and state", Source: "cri-o/cri-o pkg/config/config_unix.go"},
	{Path: "/run/cri-dockerd.sock", Why: "cri-dockerd's CRI socket", Source: "Mirantis/cri-dockerd README", Access: GroupSocket},
	{Path: "/run/k3s", Why: "k3s's and RKE2's containerd and its state", Source: "https://docs.k3s.io/advanced (containerd socket /run/k3s/containerd/containerd.sock)"},
	{Path: "/run/podman", Why: "Podman's API socket", Source: "podman-system-service(1)"},
	{Path: "/var/snap/microk8s/common/run", Why: "MicroK8s's containerd socket", Source: "https://microk8s.io/docs/configuring-services"},
	{Path: "/run/k0s", Why: "k0s's containerd and status sockets", Source: "https://docs.k0sproject.io/stable/runtime/"},
	{Path: "/run/host-containerd", Why: "Bottlerocket's host containerd", Source: "https://github.com/bottlerocket-os/bottlerocket (host-containerd)"},
	{Path: "/run/nri", Why: "NRI's socket: a plugin adjusts every container's mounts, devices and hooks", Source: "containerd/nri README"},
	{Path: "/run/runc", Why: "runc's default state root: every container's state", Source: "opencontainers/runc (--root /run/runc)"},
	{Path: "/run/crun", Why: "crun's state root", Source: "containers/crun (--root /run/crun)"},
	{Path: "/system/run", Why: "Talos's system containerd and machined's API", Source: "https://www.talos.dev/latest/learn-more/architecture/"},
	{Path: "/run/soci-snapshotter-grpc", Why: "the snapshotter socket serves container root filesystems to containerd: a client can mount/alter layers", Source: "https://github.com/awslabs/amazon-eks-ami/blob/81fec2e895854f599974fe4d3d72f61c0a9aaffa/nodeadm/internal/containerd/config.template.toml#L38"},
	{Path: "/run/buildkit", Why: "buildkitd.sock: builds with --allow security.insecure / entitlements run privileged", Source: "https://github.com/moby/buildkit/blob/master/docs/rootless.md (unverified)"},
	{Path: "/run/vc", Why: "hypervisor control sockets (QMP can hot-plug host devices, dump guest memory), agent hybrid-vsock, virtiofsd", Source: "kata-containers/kata-containers@4.1.0:src/runtime/virtcontainers/persist/fs/fs.go#36,67; src/runtime/virtcontainers/qemu.go#127-130; clh.go#88-90; fc.go#65,76; src/runtime/pkg/containerd-shim-v2/shim_management.go#335,345"},
	{Path: "/run/kata", Why: "runtime-rs equivalent of /run/vc/sbs", Source: "kata-containers/kata-containers@4.1.0:src/runtime/pkg/containerd-shim-v2/shim_management.go#340"},
	{Path: "/run/runsc", Why: "runsc state files and sandbox control (urpc) sockets", Source: "google/gvisor@00972a2:runsc/config/flags.go (DefaultRootDir -> defaultRootDir \"/var/run/runsc\" in older flags.go)"},
}

// windowsRuntimePipes are the runtimes' named pipes on Windows nodes, in
// windowsPath's form (a trailing "*" matches a prefix). Not configurable.
var windowsRuntimePipes = [...]Fact{
	{Path: "\\\\.\\pipe\\containerd-containerd", Why: "containerd's API on Windows", Source: "containerd/containerd defaults/defaults_windows.go"},
	{Path: "\\\\.\\pipe\\docker_engine", Why: "Docker's API on Windows", Source: "moby/moby"},
	{Path: "\\\\.\\pipe\\cri-dockerd", Why: "cri-dockerd's CRI pipe", Source: "Mirantis/cri-dockerd"},
	{Path: "\\\\.\\pipe\\dockershim", Why: "dockershim's CRI pipe", Source: "kubernetes/kubernetes v1.23"},
	{Path: "\\\\.\\pipe\\containerd-debug", Why: "pprof heap dumps of the daemon", Source: "containerd/containerd@v2.2.7:defaults/defaults_windows.go#43"},
	{Path: "\\\\.\\pipe\\protectedprefix\\administrators\\containerd-shim-*", Why: "shim task API (Exec, Kill) of every container in the sandbox; ProtectedPrefix restricts creation to Administrators", Source: "microsoft/hcsshim@51ce91cb:cmd/containerd-shim-runhcs-v1/start.go (addrFmt)"},
	{Path: "\\\\.\\pipe\\containerd-shim-*", Why: "shim log stream / task API of older shims (containerd 1.x pkg/shim SocketAddress)", Source: "containerd/containerd@v2.2.7:core/runtime/v2/shim_windows.go#77; containerd 1.x runtime/v2/shim/util_windows.go (SocketAddress) via find_string"},
	{Path: "\\\\.\\pipe\\containerd-processor-*", Why: "pipes feeding layer data to stream processors (e.g. decryption)", Source: "containerd/containerd@v2.2.7:core/diff/stream_windows.go#55"},
}

// DefaultRuntimeSockets returns the built-in list (a copy).
func DefaultRuntimeSockets() []string { return factPaths(defaultRuntimeSockets[:]) }

// WindowsRuntimePipes returns the built-in Windows list (a copy).
func WindowsRuntimePipes() []string { return factPaths(windowsRuntimePipes[:]) }

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
	return containerRuntimeSocket{sockets: configuredList(sockets, defaultRuntimeSockets[:], windowsRuntimePipes[:])}
}

func (r containerRuntimeSocket) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		rel, s := r.sockets.match(m)
		if rel == unrelated {
			continue
		}
		if who := t.connects(m, r.sockets.access(m)); who != "" {
			errs = append(errs, forbidden(m.Field(),
				m.String()+", "+rel.describe(s, socketKind(s))+
					"; whoever reaches it controls every container on the node, even through a read-only mount, and the container "+who, t.grant(m)))
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
