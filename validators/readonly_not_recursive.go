package validators

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// kernelSubmounts are kernel filesystems mounted inside /sys and /proc on
// the nodes daemonguard knows. A read-only hostPath is bind-mounted
// recursively but made read-only only at its top (shown on containerd 1.6:
// TestIdentity case 5), so these stay writable inside a read-only /sys.
var kernelSubmounts = [...]Fact{
	{Path: "/sys/kernel/tracing", Why: "tracefs: kprobes and trace events read kernel memory", Source: "https://docs.kernel.org/trace/kprobetrace.html (unverified as root without capabilities)"},
	{Path: "/sys/kernel/debug", Why: "debugfs: kernel debugging knobs", Source: "https://docs.kernel.org/filesystems/debugfs.html"},
	{Path: "/sys/fs/bpf", Why: "bpffs: the pinned maps CNIs keep network policy in", Source: "https://docs.cilium.io/en/stable/network/kubernetes/configuration/ (bpffs)"},
	{Path: "/sys/kernel/security", Why: "securityfs: AppArmor and IMA policy", Source: "https://docs.kernel.org/admin-guide/LSM/apparmor.html"},
	{Path: "/sys/firmware/efi/efivars", Why: "efivarfs: firmware variables, boot order", Source: "https://docs.kernel.org/filesystems/efivarfs.html"},
	{Path: "/sys/kernel/config", Why: "configfs: kernel objects created from user space", Source: "https://docs.kernel.org/filesystems/configfs.html"},
	{Path: "/sys/fs/cgroup", Why: "cgroup v1 hierarchies: every container's limits and processes", Source: "https://docs.kernel.org/admin-guide/cgroup-v1/cgroups.html"},
	{Path: "/dev/shm", Why: "the node's shared memory (tmpfs): what hostIPC and a writable /dev/shm give", Source: "https://www.freedesktop.org/software/systemd/man/latest/systemd.special.html (dev-shm)"},
	{Path: "/dev/mqueue", Why: "the node's POSIX message queues", Source: "mq_overview(7)"},
	{Path: "/boot/efi", Why: "the EFI system partition (vfat), mounted here by most distributions and cloud images: the bootloader, its configuration and unified kernel images, replaced at will through a read-only /boot", Source: "https://uapi-group.org/specifications/specs/boot_loader_specification/ (the ESP at /efi or /boot/efi); Debian and Ubuntu fstab (UUID=... /boot/efi vfat)"},
	{Path: "/proc/sys/fs/binfmt_misc", Why: "binfmt_misc: interpreters the kernel runs for matching binaries", Source: "https://docs.kernel.org/admin-guide/binfmt-misc.html"},
}

// readonlyNotRecursive warns about a read-only mount whose tree holds a
// kernel filesystem that stays writable, by a container that may run as
// root, unless the mount asks for recursiveReadOnly: Enabled.
type readonlyNotRecursive struct{ paths pathList }

func defineReadonlyNotRecursive() Definition {
	return Definition{
		Meta: Meta{
			ID:      "readonly-not-recursive",
			Default: config.Warn,
			Summary: "a read-only mount of `/`, `/sys`, `/proc` or another directory holding a kernel filesystem (tracefs, debugfs, bpffs, securityfs, efivarfs, configfs, cgroup v1, binfmt_misc) or another partition (the EFI system partition under `/boot`) by a container that may run as root, without `recursiveReadOnly: Enabled`",
			Why:     "read-only holds only at the top of a bind mount: the kernel filesystems and partitions mounted inside it stay writable",
			Reads: []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts",
				"spec.template.spec.securityContext", "spec.template.spec.*containers[*].securityContext"},
			Precondition: precondition.HostPath,
		},
		New: func(Options) Rule { return readonlyNotRecursive{paths: newFactList(kernelSubmounts[:], nil)} },
	}
}

func (r readonlyNotRecursive) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if m.Writable || m.Mount.RecursiveReadOnly != nil && *m.Mount.RecursiveReadOnly == corev1.RecursiveReadOnlyEnabled {
			continue
		}
		inside := r.paths.ancestorOf(m)
		if len(inside) == 0 {
			continue
		}
		why := t.identity(m).RootReason()
		if why == "" {
			continue
		}
		errs = append(errs, forbidden(m.Field(),
			m.String()+" read-only and the container "+why+", but read-only is not recursive: "+quoteList(inside, len(inside))+
				" inside it stay writable; set recursiveReadOnly: Enabled (the runtime must support it: containerd 2.0, CRI-O 1.30), or mount only what it reads",
			t.grant(m)))
	}
	return errs
}
