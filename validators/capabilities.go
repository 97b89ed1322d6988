package validators

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// strongCapability says why a capability is as strong as SYS_ADMIN next to
// the host's processes, or "" when it is not one of them.
func strongCapability(name string) string {
	switch name {
	case "SYS_ADMIN":
		return "it can enter every process's namespaces and mount"
	case "ALL":
		return "it has every capability, SYS_ADMIN included"
	case "SYS_MODULE":
		return "it can load a kernel module, which is kernel code"
	case "SYS_RAWIO":
		return "it can read and write physical memory and raw devices (/dev/mem, iopl, raw block I/O)"
	case "DAC_READ_SEARCH":
		return "it can open any host file by handle (open_by_handle_at, the shocker breakout)"
	case "BPF":
		return "it can load BPF programs that read and rewrite other processes' memory and system calls"
	case "PERFMON":
		return "it can trace every host process with perf and BPF"
	case "SYS_BOOT":
		return "it can kexec a new kernel or reboot the node"
	}
	return ""
}

func privileged(sc *corev1.SecurityContext) bool {
	return sc != nil && sc.Privileged != nil && *sc.Privileged
}

// addsCapability reports whether sc adds the capability name (normalised).
func addsCapability(sc *corev1.SecurityContext, name string) (int, bool) {
	if sc == nil || sc.Capabilities == nil {
		return 0, false
	}
	for k, c := range sc.Capabilities.Add {
		if capabilityName(string(c)) == name {
			return k, true
		}
	}
	return 0, false
}

// canSetns reports whether a container can enter another process's
// namespaces through their /proc/<pid>/ns files: privileged, or SYS_ADMIN
// (or ALL) added.
func canSetns(sc *corev1.SecurityContext) bool {
	if privileged(sc) {
		return true
	}
	_, admin := addsCapability(sc, "SYS_ADMIN")
	_, all := addsCapability(sc, "ALL")
	return admin || all
}

// isProcFD reports whether p is, or lies inside, a process's file
// descriptor directory in the host's /proc (fd, fdinfo, map_files, of a pid,
// self or thread-self, or one of their tasks): the files some process on the
// node has open, whatever their names.
func isProcFD(p string) bool {
	rest, ok := strings.CutPrefix(p, "/proc/")
	if !ok {
		return false
	}
	pid, rest, _ := strings.Cut(rest, "/")
	if pid != "self" && pid != "thread-self" && !isNumber(pid) {
		return false
	}
	if tasks, ok := strings.CutPrefix(rest, "task/"); ok {
		var tid string
		if tid, rest, _ = strings.Cut(tasks, "/"); !isNumber(tid) {
			return false
		}
	}
	dir, _, _ := strings.Cut(rest, "/")
	return dir == "fd" || dir == "fdinfo" || dir == "map_files"
}

// isFDLink reports whether p is, or lies inside, one of the links systemd
// makes into /proc/self/fd (/dev/fd, /dev/stdin, /dev/stdout,
// /dev/stderr): the runtime that resolves the mount follows it into its own
// open files. A mount of /dev itself is not: links inside a mount resolve
// in the container.
func isFDLink(p string) bool {
	switch p {
	case "/dev/stdin", "/dev/stdout", "/dev/stderr":
		return true
	}
	return p == "/dev/fd" || inside(p, "/dev/fd")
}

// isProcDoor reports whether p is the host's /proc, a process's directory in
// it, or "/" (hostPath volumes are bind-mounted recursively, so /proc comes
// along). Through it a container that can setns enters every host process
// (nsenter --mount=/host/proc/1/ns/mnt) as if the pod had hostPID.
func isProcDoor(p string) bool {
	if p == "/" || p == "/proc" {
		return true
	}
	rest, ok := strings.CutPrefix(p, "/proc/")
	if !ok {
		return false
	}
	pid, _, _ := strings.Cut(rest, "/")
	return pid == "self" || pid == "thread-self" || isNumber(pid)
}

// hostPIDDoor says whether a container is judged as in a hostPID pod: the
// pod has hostPID, or the container can setns and mounts the host's /proc
// (door is then that mount).
func (t *Target) hostPIDDoor(c *containerRef) (hostPID bool, door *HostMount) {
	if t.DaemonSet.Spec.Template.Spec.HostPID {
		return true, nil
	}
	if !canSetns(c.security) {
		return false, nil
	}
	if door = t.procMount(c.list, c.index); door != nil {
		return true, door
	}
	return false, nil
}

// hostPIDReason opens a hostPID finding's message: the pod's hostPID, or the
// door the container uses instead.
func hostPIDReason(c *containerRef, door *HostMount) string {
	if door == nil {
		return "hostPID is true and " + containerKind(c.list) + " " + quote(c.name)
	}
	return containerKind(c.list) + " " + quote(c.name) + " mounts the host's /proc (host path " + quote(door.effectivePath()) +
		" at " + quote(door.Mount.MountPath) + "), which is hostPID by another door, and it"
}
