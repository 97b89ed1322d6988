package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// defaultHostControlSockets are node control sockets that are not a
// container runtime but hand out the same power: the kubelet's plugin
// directories (registering a device plugin makes the kubelet inject its
// host mounts, devices and CDI devices into pods; a CSI node plugin's
// socket mounts what the caller asks, as root; the plugin watcher registers
// whatever socket appears in plugins_registry), systemd's private bus
// (StartTransientUnit runs any command as root), the D-Bus system bus (the
// same systemd manager, logind, NetworkManager...), snapd (installs snaps)
// and Bottlerocket's API (system settings and superpowered host
// containers). The kubelet's PodResources socket (list and get only) is not
// among them.
var defaultHostControlSockets = [...]string{
	"/var/lib/kubelet/device-plugins",
	"/var/lib/kubelet/plugins",
	"/var/lib/kubelet/plugins_registry",
	"/run/systemd/private",
	"/run/dbus",
	"/run/snapd.socket",
	"/run/api.sock",
}

// windowsHostControlSockets are the same on Windows: the kubelet's plugin
// directories on c:, and csi-proxy's pipes (privileged disk, volume and SMB
// operations on the host), by prefix.
var windowsHostControlSockets = [...]string{
	"c:/var/lib/kubelet/device-plugins",
	"c:/var/lib/kubelet/plugins",
	"c:/var/lib/kubelet/plugins_registry",
	`\\.\pipe\csi-proxy-*`,
}

// DefaultHostControlSockets returns the built-in list (a copy).
func DefaultHostControlSockets() []string {
	return append([]string(nil), defaultHostControlSockets[:]...)
}

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
			return hostControlSocket{sockets: newPathList(defaultHostControlSockets[:], windowsHostControlSockets[:])}
		},
	}
}

func (r hostControlSocket) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if m.plainRoot() {
			continue
		}
		if rel, s := r.sockets.match(m); rel != unrelated {
			errs = append(errs, forbidden(m.Field(),
				m.String()+", "+rel.describe(s, "node control socket")+
					": whoever connects to it can make the kubelet, systemd or the host OS mount paths or run code as root, even through a read-only mount; remove the mount", m.key()))
		}
	}
	return errs
}
