package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// defaultHostControlSockets are node control sockets that are not a
// container runtime but hand out the same power. The kubelet's PodResources
// socket (list and get only) is not among them.
var defaultHostControlSockets = [...]Fact{
	{Path: "/var/lib/kubelet/device-plugins", Why: "the kubelet's device plugin registration: a plugin gets its mounts and devices injected into pods", Source: "https://kubernetes.io/docs/concepts/extend-kubernetes/compute-storage-net/device-plugins/"},
	{Path: "/var/lib/kubelet/plugins", Why: "CSI node plugins' sockets: they mount what the caller asks, as root", Source: "kubernetes/kubernetes:pkg/kubelet/config/defaults.go", Access: WorldSocket},
	{Path: "/var/lib/kubelet/plugins_registry", Why: "the kubelet registers any socket that appears here as a plugin", Source: "kubernetes/kubernetes:pkg/kubelet/pluginmanager", Access: WorldSocket},
	{Path: "/var/lib/k0s/kubelet/device-plugins", Why: "the kubelet's device plugin registration (k0s's kubelet root)", Source: "https://docs.k0sproject.io/stable/configuration/ (dataDir /var/lib/k0s: kubelet root-dir /var/lib/k0s/kubelet, containerd root /var/lib/k0s/containerd)"},
	{Path: "/var/lib/k0s/kubelet/plugins", Why: "CSI node plugins' sockets (k0s's kubelet root)", Source: "https://docs.k0sproject.io/stable/configuration/ (dataDir /var/lib/k0s: kubelet root-dir /var/lib/k0s/kubelet, containerd root /var/lib/k0s/containerd)", Access: WorldSocket},
	{Path: "/var/lib/k0s/kubelet/plugins_registry", Why: "the kubelet's plugin registration (k0s's kubelet root)", Source: "https://docs.k0sproject.io/stable/configuration/ (dataDir /var/lib/k0s: kubelet root-dir /var/lib/k0s/kubelet, containerd root /var/lib/k0s/containerd)", Access: WorldSocket},
	{Path: "/run/systemd/private", Why: "systemd's private bus: StartTransientUnit runs any command as root", Source: "systemd(1)"},
	{Path: "/run/dbus", Why: "the D-Bus system bus: systemd, logind, NetworkManager", Source: "dbus-daemon(1)", Access: WorldSocket},
	{Path: "/run/snapd.socket", Why: "snapd's API: installs snaps", Source: "https://snapcraft.io/docs/snapd-api", Access: WorldSocket},
	{Path: "/run/api.sock", Why: "Bottlerocket's API: settings and superpowered host containers", Source: "https://bottlerocket.dev/en/os/latest/api/", Access: WorldSocket},
	{Path: "/run/tetragon", Why: "Tetragon's gRPC API: tracing policies that read any process's data or kill it", Source: "https://github.com/cilium/tetragon/blob/main/docs/content/en/docs/reference/grpc-api.md (AddTracingPolicy)"},
	{Path: "/run/topolvm", Why: "TopoLVM's lvmd API: creates, resizes and deletes the node's logical volumes, other pods' volumes among them", Source: "https://github.com/topolvm/topolvm/blob/main/docs/lvmd.md"},
	{Path: "/run/antrea", Why: "Antrea's agent and OVS sockets (ovsdb, OpenFlow): the node's pod network", Source: "https://github.com/antrea-io/antrea/blob/main/build/charts/antrea/templates/agent/daemonset.yaml"},
	{Path: "/run/netns", Why: "bind-mounted network namespaces of every pod sandbox: with CAP_SYS_ADMIN a container can setns() into any pod's network (sniff, spoof, bypass NetworkPolicy)", Source: "https://github.com/containerd/containerd/blob/301026e58c619e63d09c0ec411012e54c0124b03/internal/cri/server/sandbox_run.go#L203; https://github.com/cri-o/cri-o/blob/f954a17e505f8931e91004403b5f5eac71ab6085/pkg/config/config.go#L72"},
	{Path: "/run/ipcns", Why: "pinned IPC namespaces of pods", Source: "https://github.com/cri-o/cri-o/blob/f954a17e505f8931e91004403b5f5eac71ab6085/docs/crio.conf.5.md#L322"},
	{Path: "/run/utsns", Why: "pinned UTS namespaces of pods", Source: "https://github.com/cri-o/cri-o/blob/f954a17e505f8931e91004403b5f5eac71ab6085/docs/crio.conf.5.md#L322"},
	{Path: "/run/userns", Why: "pinned user namespaces of pods", Source: "https://github.com/cri-o/cri-o/blob/f954a17e505f8931e91004403b5f5eac71ab6085/docs/crio.conf.5.md#L322"},
	{Path: "/run/multus", Why: "multus.sock: CNI ADD/DEL requests executed by the daemon as root with host netns", Source: "https://github.com/k8snetworkplumbingwg/multus-cni/blob/95a0932350f0060cd232096876e24672a1de83fa/pkg/server/api/api.go#L42"},
	{Path: "/run/cilium", Why: "cilium.sock (full agent REST API: endpoints, policy, BPF maps), hubble.sock (all flows), monitor1_2.sock, certs/ (TLS secrets for L7 policy), state/", Source: "https://github.com/cilium/cilium/blob/0036b1f4dd79a843cb93e1071f152bcaf9c5b31b/pkg/defaults/defaults.go", Access: GroupSocket},
	{Path: "/run/calico", Why: "bird.ctl / bird6.ctl BGP control sockets (inject routes), felix state", Source: "https://docs.tigera.io/calico/latest/reference/ (unverified)"},
	{Path: "/run/openvswitch", Why: "db.sock (OVSDB JSON-RPC: rewrite every bridge/flow) and <bridge>.mgmt OpenFlow sockets", Source: "openvswitch-switch 3.1.0 ovs-ctl: unix:${rundir}/db.sock (Debian package, extracted)"},
	{Path: "/run/systemd/ask-password", Why: "ask.* files + sockets: answering or reading disk-unlock passphrase requests", Source: "https://systemd.io/PASSWORD_AGENTS/ (unverified)"},
	{Path: "/run/systemd/userdb", Why: "varlink user/group database services: a fake service socket here injects users/groups (e.g. uid 0 alias) into NSS", Source: "https://systemd.io/USER_GROUP_API/ (unverified)", Access: WorldSocket},
	{Path: "/run/systemd/notify", Why: "PID 1 accepts notifications only from unit PIDs (NotifyAccess); low impact", Source: "https://man7.org/linux/man-pages/man3/sd_notify.3.html (unverified)", Access: WorldSocket},
	{Path: "/run/initctl", Why: "writing a runlevel request reboots/powers off the node", Source: "Debian bookworm package (apt-get download; extracted in /work/research/gen/pkgs/x/systemd/lib/systemd/system/systemd-initctl.socket: ListenFIFO=/run/initctl SocketMode=0600)"},
	{Path: "/run/snapd-snap.socket", Why: "limited API for snaps; snapd authorises by peer credentials", Source: "Debian bookworm package (apt-get download; extracted in /work/research/gen/pkgs/x/snapd/lib/systemd/system/snapd.socket: ListenStream=/run/snapd-snap.socket SocketMode=0666)", Access: WorldSocket},
	{Path: "/run/lvm", Why: "lvmpolld.socket and lock files: drive LVM operations as root", Source: "Debian bookworm package (apt-get download; extracted in /work/research/gen/pkgs/x/lvm2/lib/systemd/system/lvm2-lvmpolld.socket: ListenStream=/run/lvm/lvmpolld.socket SocketMode=0600)"},
	{Path: "/run/udev/control", Why: "udevadm control: reload rules, set env, exit", Source: "Debian bookworm package (apt-get download; extracted in /work/research/gen/pkgs/x/udev/lib/systemd/system/systemd-udevd-control.socket SocketMode=0600)"},
	{Path: "/run/systemd/journal/io.systemd.journal", Why: "journald's Varlink control socket (root only): RelinquishVar stops persistent logging, Rotate and Synchronize act on every log", Source: "systemd-journald.service(8) (\"io.systemd.journal\" Varlink interface: Synchronize, Rotate, FlushToVar, RelinquishVar)"},
	// Daemons that keep their socket in their state directory, not /run.
	{Path: "/var/lib/lxd/unix.socket", Why: "LXD's API (the packaged, non-snap LXD): whoever connects can fully control LXD, which includes attaching the host's devices and filesystems to a privileged instance", Source: "https://documentation.ubuntu.com/lxd/stable-5.21/explanation/security/ (\"Anyone with access to the socket can fully control LXD\"); CVE-2015-8222 names /var/lib/lxd/unix.socket"},
	{Path: "/var/snap/lxd/common/lxd/unix.socket", Why: "LXD's API (the snap): full control of LXD, host devices and filesystems included", Source: "https://documentation.ubuntu.com/lxd/stable-5.21/explanation/security/ (LXD_DIR of the snap: /var/snap/lxd/common/lxd)"},
	{Path: "/var/lib/incus/unix.socket", Why: "Incus's API: full control of Incus, host devices and filesystems included", Source: "https://linuxcontainers.org/incus/docs/main/security/ (\"access to the Incus socket ... full control\"; Incus's default directory /var/lib/incus)"},
	{Path: "/run/google-guest-agent", Why: "commands.sock accepts agent commands", Source: "https://github.com/GoogleCloudPlatform/guest-agent/blob/df9d20376449c38ed4ebb1a93c0b029f09171b71/google_guest_agent/command/command_linux.go#L18"},
}

// windowsHostControlSockets are the same on Windows.
var windowsHostControlSockets = [...]Fact{
	{Path: "c:/var/lib/kubelet/device-plugins", Why: "the kubelet's device plugin registration on Windows", Source: "https://kubernetes.io/docs/concepts/extend-kubernetes/compute-storage-net/device-plugins/"},
	{Path: "c:/var/lib/kubelet/plugins", Why: "CSI node plugins' sockets on Windows", Source: "kubernetes/kubernetes:pkg/kubelet/config/defaults.go", Access: WorldSocket},
	{Path: "c:/var/lib/kubelet/plugins_registry", Why: "the kubelet's plugin registration on Windows", Source: "kubernetes/kubernetes:pkg/kubelet/pluginmanager", Access: WorldSocket},
	{Path: "\\\\.\\pipe\\csi-proxy-*", Why: "csi-proxy's pipes: privileged disk, volume and SMB operations on the host", Source: "https://github.com/kubernetes-csi/csi-proxy"},
}

// DefaultHostControlSockets returns the built-in list (a copy).
func DefaultHostControlSockets() []string { return factPaths(defaultHostControlSockets[:]) }

// hostControlSocket forbids any mount, read-only or not, of a node control
// socket, of anything inside a control socket directory, or of a directory
// containing one; a plain mount of "/" is left to other rules, as for
// container-runtime-socket.
type hostControlSocket struct{ sockets pathList }

func defineHostControlSocket() Definition {
	return Definition{
		Meta: Meta{
			ID:           "host-control-socket",
			Default:      config.Enforce,
			Summary:      "any mount, read-only or not, of a node control socket that is not the container runtime, of anything inside such a directory, or of a directory containing one: the kubelet's `device-plugins`, `plugins` and `plugins_registry` directories, systemd's private socket (`/run/systemd/private`, so all of `/run/systemd` too), the D-Bus system bus (`/run/dbus`), snapd, Bottlerocket's API socket, csi-proxy's Windows pipes. `/var/lib/kubelet/pod-resources` (list and get only) and `/run/systemd/journal` are not among them; a plain read-only `/` is left to other rules.",
			Why:          "whoever connects makes the kubelet, systemd or the host OS mount paths or run code as root, even through a read-only mount",
			Reads:        []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts", "spec.template.spec.*containers[*].env"},
			Precondition: precondition.HostPath,
		},
		New: func(Options) Rule {
			return hostControlSocket{sockets: newFactList(defaultHostControlSockets[:], windowsHostControlSockets[:])}
		},
	}
}

func (r hostControlSocket) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		rel, s := r.sockets.match(m)
		if rel == unrelated {
			continue
		}
		if who := t.connects(m, r.sockets.access(m)); who != "" {
			errs = append(errs, forbidden(m.Field(),
				m.String()+", "+rel.describe(s, "node control socket")+
					": whoever connects to it can make the kubelet, systemd or the host OS mount paths or run code as root, even through a read-only mount, and the container "+who+"; remove the mount", t.grant(m)))
		}
	}
	return errs
}
