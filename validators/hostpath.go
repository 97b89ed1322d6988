package validators

import (
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// HostMount is one volumeMount of a hostPath volume, in any kind of container.
type HostMount struct {
	// ContainerList is "containers", "initContainers" or "ephemeralContainers".
	ContainerList  string
	ContainerIndex int
	MountIndex     int
	Container      string
	Mount          *corev1.VolumeMount
	// HostPath is the cleaned host path the mount exposes: the volume's path
	// with the mount's subPath joined on. With a subPathExpr the final path is
	// only known on the node, so HostPath is the volume's path, which covers
	// everything the expression can expand to.
	HostPath string
	// ViaProc is HostPath without a leading /proc/<pid>/root or
	// /proc/<pid>/cwd, when it has one, else "". Those links lead to a
	// process's root or working directory, which for the host's init and for
	// the runtime resolving the mount is the node's "/": through
	// /proc/1/root/run/containerd the mount is /run/containerd. The rules
	// judge both paths.
	ViaProc  string
	Writable bool
}

// Field is the mount's full field path.
func (m *HostMount) Field() *field.Path {
	return field.NewPath("spec", "template", "spec").Child(m.ContainerList).Index(m.ContainerIndex).
		Child("volumeMounts").Index(m.MountIndex)
}

// String describes the mount for a message, without list indices but with
// the kind of container, so that ratcheting never mistakes a mount moved from
// an init container to a container of the same name for the old one, and with
// any subPathExpr, so that it never mistakes a mount of the whole volume for
// an old mount of one directory in it.
func (m *HostMount) String() string {
	if m.ViaProc == "" && m.Mount.SubPathExpr == "" {
		return fmt.Sprintf("%s %q mounts host path %q (volume %q) at %q", containerKind(m.ContainerList), m.Container, m.HostPath, m.Mount.Name, m.Mount.MountPath)
	}
	path := strconv.Quote(m.HostPath)
	if m.ViaProc != "" {
		path += fmt.Sprintf(" (the node's %q, through a process's root or working directory)", m.ViaProc)
	}
	if e := m.Mount.SubPathExpr; e != "" {
		path += fmt.Sprintf(" with subPathExpr %q", e)
	}
	return fmt.Sprintf("%s %q mounts host path %s (volume %q) at %q", containerKind(m.ContainerList), m.Container, path, m.Mount.Name, m.Mount.MountPath)
}

// relate compares the mount with a protected path: its host path first, then
// the path it reaches through /proc. A mount that reaches the node's "/"
// through /proc relates to nothing unless rootToo, as "/" itself is judged
// by each rule.
func (m *HostMount) relate(protected string, rootToo bool) relation {
	if rel := relate(m.HostPath, protected); rel != unrelated || m.ViaProc == "" || (m.ViaProc == "/" && !rootToo) {
		return rel
	}
	return relate(m.ViaProc, protected)
}

// containerKind names a container list in messages.
func containerKind(list string) string {
	switch list {
	case "initContainers":
		return "init container"
	case "ephemeralContainers":
		return "ephemeral container"
	}
	return "container"
}

// CleanHostPath returns p as the kubelet will resolve it: absolute, with "..",
// "." and repeated or trailing slashes removed, and /var/run spelled /run
// (on every current distribution /var/run is a symlink to /run). The symlink
// is followed before a ".." is applied, as the kernel does: /var/run/../etc
// is /etc, not /var/etc.
func CleanHostPath(p string) string {
	if isClean(p) {
		return p
	}
	var parts []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			if len(parts) > 0 {
				parts = parts[:len(parts)-1]
			}
		default:
			parts = append(parts, c)
			if len(parts) == 2 && parts[0] == "var" && parts[1] == "run" {
				parts = []string{"run"}
			}
		}
	}
	return "/" + strings.Join(parts, "/")
}

// isClean reports whether CleanHostPath would return p as it is: absolute,
// without an empty, "." or ".." element or a trailing slash, and not under
// /var/run. Host paths in real objects almost always are, and then cleaning
// allocates nothing.
func isClean(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] == '/' || p == "/var/run" || strings.HasPrefix(p, "/var/run/") {
		return false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i == len(p) || p[i] == '/' {
			switch p[start:i] {
			case "", ".", "..":
				return false
			}
			start = i + 1
		}
	}
	return true
}

// viaProc returns the cleaned path p leads to on the node when it starts with
// /proc/<pid>/root or /proc/<pid>/cwd (or /proc/<pid>/task/<tid>/..., with
// self or thread-self for the pid), taking the process's root or working
// directory to be the node's "/"; else "". The kernel follows these links
// wherever they lead, so they are symlinks the manifest itself spells out.
func viaProc(p string) string {
	found := false
	for {
		rest, ok := strings.CutPrefix(p, "/proc/")
		if !ok {
			break
		}
		pid, rest, _ := strings.Cut(rest, "/")
		if pid != "self" && pid != "thread-self" && !isNumber(pid) {
			break
		}
		if tasks, ok := strings.CutPrefix(rest, "task/"); ok {
			var tid string
			if tid, rest, _ = strings.Cut(tasks, "/"); !isNumber(tid) {
				break
			}
		}
		link, rest, _ := strings.Cut(rest, "/")
		if link != "root" && link != "cwd" {
			break
		}
		p, found = CleanHostPath("/"+rest), true
	}
	if !found {
		return ""
	}
	return p
}

func isNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// containerRef is the part of any kind of container the rules read.
type containerRef struct {
	list     string
	index    int
	name     string
	security *corev1.SecurityContext
	mounts   []corev1.VolumeMount
}

func (c *containerRef) field() *field.Path {
	return field.NewPath("spec", "template", "spec").Child(c.list).Index(c.index)
}

// forEachContainer visits containers, then init containers, then ephemeral
// containers: every one of them runs on the node with the pod's host access.
// The reference is passed by value: a pointer handed to visit would escape,
// one allocation per container per rule.
func forEachContainer(spec *corev1.PodSpec, visit func(c containerRef)) {
	for i := range spec.Containers {
		c := &spec.Containers[i]
		visit(containerRef{"containers", i, c.Name, c.SecurityContext, c.VolumeMounts})
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		visit(containerRef{"initContainers", i, c.Name, c.SecurityContext, c.VolumeMounts})
	}
	for i := range spec.EphemeralContainers {
		c := &spec.EphemeralContainers[i]
		visit(containerRef{"ephemeralContainers", i, c.Name, c.SecurityContext, c.VolumeMounts})
	}
}

// hostMounts lists every mount of a hostPath volume. A mount name that
// matches several volumes (invalid, but possible in offline input) yields one
// HostMount per hostPath volume, so no duplicate can hide a host path.
func hostMounts(spec *corev1.PodSpec) []HostMount {
	// One allocation for the usual case, each mount naming one volume.
	n := 0
	forEachContainer(spec, func(c containerRef) { n += len(c.mounts) })
	if n == 0 {
		return nil
	}
	out := make([]HostMount, 0, n)
	forEachContainer(spec, func(c containerRef) {
		for j := range c.mounts {
			m := &c.mounts[j]
			for k := range spec.Volumes {
				v := &spec.Volumes[k]
				if v.Name != m.Name || v.HostPath == nil {
					continue
				}
				hostPath := v.HostPath.Path
				if m.SubPath != "" && m.SubPathExpr == "" {
					// Not path.Join: that would resolve a ".." in the
					// subPath lexically, before CleanHostPath follows /var/run.
					hostPath += "/" + m.SubPath
				}
				clean := CleanHostPath(hostPath)
				out = append(out, HostMount{
					ContainerList: c.list, ContainerIndex: c.index, MountIndex: j,
					Container: c.name, Mount: m,
					HostPath: clean, ViaProc: viaProc(clean),
					Writable: !m.ReadOnly,
				})
			}
		}
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

// relation says how a mounted host path relates to a protected one.
type relation int

const (
	unrelated relation = iota
	same
	ancestor // the mount contains the protected path
	under    // the mount lies inside the protected path
)

// relate compares two cleaned host paths. A protected "/" relates only to a
// mount of "/" itself, or every path would be under it.
func relate(mounted, protected string) relation {
	switch {
	case mounted == protected:
		return same
	case mounted == "/" || inside(protected, mounted):
		return ancestor
	case protected != "/" && inside(mounted, protected):
		return under
	}
	return unrelated
}

// inside reports whether p lies strictly inside dir: it is
// strings.HasPrefix(p, dir+"/") without building dir+"/" for every pair of
// paths compared.
func inside(p, dir string) bool {
	return len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}

func (r relation) describe(protected, what string) string {
	switch r {
	case same:
		return fmt.Sprintf("which is the %s %q", what, protected)
	case ancestor:
		return fmt.Sprintf("which contains the %s %q", what, protected)
	default:
		return fmt.Sprintf("which is inside the %s %q", what, protected)
	}
}

// cleanAll cleans every path of a configured list, once, when a rule is built.
func cleanAll(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		out = append(out, CleanHostPath(p))
	}
	return out
}
