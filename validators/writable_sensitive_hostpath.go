package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
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
	// Threat model v2: what the node later executes or trusts as root.
	// sshd trusts /home/*/.ssh, and GKE's COS keeps the kubelet, the CNI
	// binaries and flexvolume drivers in /home/kubernetes; cloud-init runs
	// per-boot and per-instance scripts from /var/lib/cloud; udev and
	// modprobe read rules from /run too (RUN+= and install directives run
	// as root); containerd and CRI-O inject CDI specs' mounts and hooks from
	// /run/cdi (and /etc/cdi) and start NRI plugins from /opt/nri; systemd
	// loads units from /run/systemd/system and /run/systemd/transient;
	// Flatcar puts the kubelet in /opt/bin; k0s runs containerd and the
	// kubelet from /var/lib/k0s; snaps (MicroK8s) live in /snap and
	// /var/snap; Talos keeps its state in /system, Bottlerocket its
	// persistent storage in /local; ostree systems (Fedora CoreOS, RHCOS)
	// have the real root at /sysroot (/ostree links into it) and /usr/local
	// at /var/usrlocal.
	"/home", "/var/lib/cloud", "/run/udev", "/run/modprobe.d", "/run/cdi",
	"/run/systemd/system", "/run/systemd/transient", "/opt/nri", "/opt/bin",
	"/var/lib/k0s", "/snap", "/var/snap", "/system", "/local", "/sysroot", "/ostree",
	"/var/usrlocal",
	// From a red-team pass: ostree systems keep /opt and /home under /var
	// (so the CNI binaries are /var/opt/cni/bin); systemd also loads units
	// from /run/systemd/system.control and system.attached; CRI-O on
	// OpenShift and Multus take CNI binaries from /var/lib/cni/bin.
	"/var/opt/cni/bin", "/var/home", "/run/systemd/system.control", "/run/systemd/system.attached",
	"/var/lib/cni/bin",
}

// windowsSensitiveHostPaths are the same on Windows nodes: the system
// drive, the OS, the upstream install's C:\k (kubelet, kube-proxy, the
// kubeconfig), the kubelet's root, kubeadm's C:\etc\kubernetes, the state
// and configuration of containerd and Docker, and the CNI binaries. Not
// configurable: they apply beside whatever Linux list the policy sets.
var windowsSensitiveHostPaths = [...]string{
	"c:", "c:/windows", "c:/k", "c:/var/lib/kubelet", "c:/etc/kubernetes",
	"c:/programdata/containerd", "c:/program files/containerd",
	"c:/programdata/docker", "c:/program files/docker", "c:/opt/cni",
}

// DefaultSensitiveHostPaths returns the built-in list (a copy).
func DefaultSensitiveHostPaths() []string {
	return append([]string(nil), defaultSensitiveHostPaths[:]...)
}

// WindowsSensitiveHostPaths returns the built-in Windows list (a copy).
func WindowsSensitiveHostPaths() []string {
	return append([]string(nil), windowsSensitiveHostPaths[:]...)
}

// writableSensitiveHostPath forbids writable mounts of a sensitive host path,
// of a directory that contains one, or of anything inside one.
type writableSensitiveHostPath struct{ paths pathList }

func defineWritableSensitiveHostPath() Definition {
	return Definition{
		Meta: Meta{
			ID:           "writable-sensitive-hostpath",
			Default:      config.Enforce,
			Summary:      "a writable mount of a sensitive path, of a directory containing one (`/var` contains `/var/lib/kubelet`), or of anything inside one (`/etc/cni/net.d`); also a hostPath volume no container mounts (an ephemeral container can mount it writable). `/` and `C:\\` match only themselves. Windows paths are compared case-insensitively with either slash.",
			Why:          "the node runs, trusts or configures itself from these paths as root",
			Reads:        []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts", "spec.template.spec.*containers[*].env"},
			Precondition: precondition.HostPath,
		},
		New: func(o Options) Rule { return newWritableSensitiveHostPath(o.SensitiveHostPaths) },
	}
}

func newWritableSensitiveHostPath(paths []string) writableSensitiveHostPath {
	if paths == nil {
		paths = defaultSensitiveHostPaths[:]
	}
	return writableSensitiveHostPath{paths: newPathList(paths, windowsSensitiveHostPaths[:])}
}

func (r writableSensitiveHostPath) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if !m.Writable {
			continue
		}
		if rel, p := r.paths.match(m); rel != unrelated {
			errs = append(errs, forbidden(m.Field(),
				m.String()+m.writably()+", "+rel.describe(p, "sensitive host path")+
					": the node runs, trusts or configures itself from it as root; set readOnly: true", m.key()))
		}
	}
	return errs
}
