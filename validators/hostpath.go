package validators

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// HostMount is one volumeMount of a hostPath volume, in any kind of
// container, or a hostPath volume no container mounts (Unmounted).
type HostMount struct {
	// ContainerList is "containers", "initContainers" or
	// "ephemeralContainers"; "" for an unmounted volume.
	ContainerList  string
	ContainerIndex int
	MountIndex     int
	// VolumeIndex is the volume's index in spec.volumes.
	VolumeIndex int
	Container   string
	// Mount is nil for an unmounted volume.
	Mount *corev1.VolumeMount
	// HostPath is the cleaned host path the mount exposes: the volume's path
	// with the mount's subPath (or its subPathExpr, when every variable in
	// it is a literal env value of the container) joined on. When a
	// subPathExpr cannot be resolved here (Opaque or Child), HostPath is
	// the volume's path with the expression's literal leading directories,
	// which the kubelet never lets the expansion leave.
	HostPath string
	// ViaProc is HostPath without a leading /proc/<pid>/root or
	// /proc/<pid>/cwd, when it has one, else "". Those links lead to a
	// process's root or working directory, which for the host's init and for
	// the runtime resolving the mount is the node's "/": through
	// /proc/1/root/run/containerd the mount is /run/containerd. The rules
	// judge both paths.
	ViaProc string
	// Windows is the path as a Windows kubelet reads it (lower case, drive
	// letter, "/" separators, cleaned: "c:/windows"; a named pipe as
	// `\\.\pipe\name`), or "" when no Windows node reads it differently:
	// set for paths with a drive letter, a backslash or a leading "//", and
	// for every absolute path of a pod pinned to Windows (where the kubelet
	// puts a driveless path on c:).
	Windows string
	// WindowsOnly is set when the path as written is Windows syntax, so the
	// Linux reading in HostPath means nothing and messages show Windows.
	WindowsOnly bool
	// SubPathExpr is the expanded subPathExpr when it was resolved from
	// literal env values, else "".
	SubPathExpr string
	// Opaque is set when a subPathExpr uses a variable that may hold
	// anything (an annotation, a ConfigMap key, envFrom): the mount may then
	// reach HostPath itself or anything under it.
	Opaque bool
	// Child is set when a subPathExpr's unknown part is one path component
	// (a pod name, a namespace, a label value...) after ChildPrefix: the
	// mount reaches one child of HostPath whose name starts with
	// ChildPrefix, and what is below it; never HostPath itself.
	Child       bool
	ChildPrefix string
	Writable    bool
	Unmounted   bool
	// Volume is the volume's name, Type its hostPath type ("" when unset),
	// VolumePath its path as written.
	Volume, VolumePath string
	Type               corev1.HostPathType
}

// Field is the mount's full field path (the volume's, when unmounted).
func (m *HostMount) Field() *field.Path {
	if m.Unmounted {
		return field.NewPath("spec", "template", "spec", "volumes").Index(m.VolumeIndex)
	}
	return field.NewPath("spec", "template", "spec").Child(m.ContainerList).Index(m.ContainerIndex).
		Child("volumeMounts").Index(m.MountIndex)
}

// hostPathText is the host path for a message: the path as the node reads
// it, with what it reaches through /proc, the Windows reading and how a
// subPathExpr was treated.
func (m *HostMount) hostPathText() string {
	var path string
	if m.WindowsOnly {
		path = quote(windowsDisplay(m.Windows))
	} else {
		path = strconv.Quote(m.HostPath)
		if m.ViaProc != "" {
			path += fmt.Sprintf(" (the node's %q, through a process's root or working directory)", m.ViaProc)
		}
		if m.Windows != "" {
			path += " (" + quote(windowsDisplay(m.Windows)) + " on a Windows node)"
		}
	}
	if m.Mount != nil && m.Mount.SubPathExpr != "" {
		switch {
		case m.Opaque:
			path += fmt.Sprintf(" with subPathExpr %q, which can reach anything in it", m.Mount.SubPathExpr)
		case m.Child && m.ChildPrefix == "":
			path += fmt.Sprintf(" with subPathExpr %q, which reaches any one entry in it (its name is known only on the node)", m.Mount.SubPathExpr)
		case m.Child:
			path += fmt.Sprintf(" with subPathExpr %q, which reaches one entry in it whose name starts with %q", m.Mount.SubPathExpr, m.ChildPrefix)
		default:
			path += fmt.Sprintf(" (subPathExpr %q expands to %q)", m.Mount.SubPathExpr, m.SubPathExpr)
		}
	}
	return path
}

// String describes the mount for a message, without list indices but with
// the kind of container, so that a reader knows exactly which mount it is.
func (m *HostMount) String() string {
	if m.Unmounted {
		return fmt.Sprintf("hostPath volume %q declares host path %s that no container mounts (an ephemeral container can mount it writable)", m.Volume, m.hostPathText())
	}
	return fmt.Sprintf("%s %q mounts host path %s (volume %q) at %q", containerKind(m.ContainerList), m.Container, m.hostPathText(), m.Mount.Name, m.Mount.MountPath)
}

// writably is " writable" for a writable mount, "" for an unmounted volume
// (String already says it can be mounted writable).
func (m *HostMount) writably() string {
	if m.Unmounted {
		return ""
	}
	return " writable"
}

// key is the access the mount grants, for ratcheting: the kind and name of
// the container, the resolved host path in every reading, how a
// subPathExpr was treated, and the mode. Not the volume's name nor the
// mount path: renaming a volume or moving its mountPath grants nothing new.
func (m *HostMount) key() string {
	// Every part the author writes is quoted, so that no host path or
	// expression can spell out the rest of another key.
	var b strings.Builder
	if m.Unmounted {
		b.WriteString("unmounted volume")
	} else {
		b.WriteString(containerKind(m.ContainerList))
		b.WriteString(" ")
		b.WriteString(strconv.Quote(m.Container))
	}
	b.WriteString(" host path ")
	b.WriteString(strconv.Quote(m.HostPath))
	if m.Windows != "" {
		b.WriteString(" windows ")
		b.WriteString(strconv.Quote(m.Windows))
	}
	switch {
	case m.Opaque:
		b.WriteString(" anything below by subPathExpr")
	case m.Child:
		b.WriteString(" a child named ")
		b.WriteString(strconv.Quote(m.ChildPrefix))
		b.WriteString("... by subPathExpr")
	}
	if m.Writable {
		b.WriteString(" rw")
	} else {
		b.WriteString(" ro")
	}
	return b.String()
}

// plainRoot reports whether the mount is the whole of "/" (or of a Windows
// drive) spelled plainly:
// no subPath, no subPathExpr, mounted by a container. Only that is the
// node-exporter pattern the socket rules leave alone.
func (m *HostMount) plainRoot() bool {
	if m.Unmounted || m.Mount.SubPath != "" || m.Mount.SubPathExpr != "" {
		return false
	}
	if m.WindowsOnly {
		return isRoot(m.Windows)
	}
	return m.HostPath == "/" || m.ViaProc == "/"
}

// readings are the paths the mount is judged at on Linux: its host path,
// and the node path it reaches through /proc ("" when it does not).
func (m *HostMount) readings() [2]string { return [2]string{m.HostPath, m.ViaProc} }

// effectivePath is the node path the mount reaches: through /proc when it
// goes there, else HostPath.
func (m *HostMount) effectivePath() string {
	if m.ViaProc != "" {
		return m.ViaProc
	}
	return m.HostPath
}

// relate compares the mount with a protected Linux path: its host path
// first, then the path it reaches through /proc.
func (m *HostMount) relate(protected string) relation {
	if rel := m.relateFrom(m.HostPath, protected); rel != unrelated || m.ViaProc == "" {
		return rel
	}
	return m.relateFrom(m.ViaProc, protected)
}

// relateFrom compares what the mount reaches from dir with a protected
// path: dir itself, or only the children named ChildPrefix... of dir.
func (m *HostMount) relateFrom(dir, protected string) relation {
	if !m.Child {
		return relate(dir, protected)
	}
	switch {
	case isRoot(protected):
		return unrelated
	case protected == dir || inside(dir, protected):
		return under
	case dir == "/" || inside(protected, dir):
		child, _, deeper := strings.Cut(strings.TrimPrefix(protected[len(dir):], "/"), "/")
		if !strings.HasPrefix(child, m.ChildPrefix) {
			return unrelated
		}
		if deeper {
			return ancestor
		}
		return same
	}
	return unrelated
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
	env      []corev1.EnvVar
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
		visit(containerRef{"containers", i, c.Name, c.SecurityContext, c.VolumeMounts, c.Env})
	}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		visit(containerRef{"initContainers", i, c.Name, c.SecurityContext, c.VolumeMounts, c.Env})
	}
	for i := range spec.EphemeralContainers {
		c := &spec.EphemeralContainers[i]
		visit(containerRef{"ephemeralContainers", i, c.Name, c.SecurityContext, c.VolumeMounts, c.Env})
	}
}

// hostMounts lists every mount of a hostPath volume, then every hostPath
// volume no container mounts (an ephemeral container, which a DaemonSet
// template cannot hold but `kubectl debug` adds to a running pod, may mount
// any volume of the pod, writable). A mount name that matches several
// volumes (invalid, but possible in offline input) yields one HostMount per
// hostPath volume, so no duplicate can hide a host path.
func hostMounts(ds *appsv1.DaemonSet) []HostMount {
	spec := &ds.Spec.Template.Spec
	// One allocation for the usual case, each mount naming one volume.
	n := 0
	forEachContainer(spec, func(c containerRef) { n += len(c.mounts) })
	for k := range spec.Volumes {
		if spec.Volumes[k].HostPath != nil {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	windowsPod := podOnWindows(spec)
	out := make([]HostMount, 0, n)
	forEachContainer(spec, func(c containerRef) {
		for j := range c.mounts {
			m := &c.mounts[j]
			for k := range spec.Volumes {
				v := &spec.Volumes[k]
				if v.Name != m.Name || v.HostPath == nil {
					continue
				}
				hm := HostMount{
					ContainerList: c.list, ContainerIndex: c.index, MountIndex: j, VolumeIndex: k,
					Container: c.name, Mount: m, Volume: v.Name, VolumePath: v.HostPath.Path, Writable: !m.ReadOnly,
				}
				if v.HostPath.Type != nil {
					hm.Type = *v.HostPath.Type
				}
				if hm.Type == corev1.HostPathSocket && m.SubPath == "" && m.SubPathExpr == "" {
					// The kubelet mounts only a socket here: the mount
					// cannot be replaced from inside (EBUSY) and a socket
					// holds no data, so writable adds nothing to connect(2)
					// but chmod, which needs the owner, who connects anyway.
					hm.Writable = false
				}
				raw := v.HostPath.Path
				switch {
				case m.SubPathExpr != "":
					r := expandSubPathExpr(m.SubPathExpr, ds, c.env)
					if r.Dir != "" {
						raw += "/" + r.Dir
					}
					switch {
					case r.Known:
						hm.SubPathExpr = r.Dir
					case r.Child:
						hm.Child, hm.ChildPrefix = true, r.Prefix
					default:
						hm.Opaque = true
					}
				case m.SubPath != "":
					// Not path.Join: that would resolve a ".." in the
					// subPath lexically, before CleanHostPath follows /var/run.
					raw += "/" + m.SubPath
				}
				hm.setPaths(raw, windowsPod)
				out = append(out, hm)
			}
		}
	})
	for k := range spec.Volumes {
		v := &spec.Volumes[k]
		if v.HostPath == nil || mounted(spec, v.Name) {
			continue
		}
		hm := HostMount{VolumeIndex: k, Volume: v.Name, VolumePath: v.HostPath.Path, Writable: true, Unmounted: true}
		if v.HostPath.Type != nil {
			hm.Type = *v.HostPath.Type
		}
		hm.setPaths(v.HostPath.Path, windowsPod)
		out = append(out, hm)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// setPaths fills the Linux and Windows readings of raw.
func (m *HostMount) setPaths(raw string, windowsPod bool) {
	m.HostPath = CleanHostPath(raw)
	m.ViaProc = viaProc(m.HostPath)
	m.Windows, m.WindowsOnly = windowsPath(raw, windowsPod)
}

// mounted reports whether any container mounts the volume called name.
func mounted(spec *corev1.PodSpec, name string) bool {
	found := false
	forEachContainer(spec, func(c containerRef) {
		for j := range c.mounts {
			if c.mounts[j].Name == name {
				found = true
			}
		}
	})
	return found
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
	case !isRoot(protected) && inside(mounted, protected):
		return under
	}
	return unrelated
}

// isRoot reports whether p is a filesystem's root: "/" or a Windows drive
// ("c:"), which protect only themselves.
func isRoot(p string) bool { return p == "/" || (len(p) == 2 && p[1] == ':') }

// inside reports whether p lies strictly inside dir: it is
// strings.HasPrefix(p, dir+"/") without building dir+"/" for every pair of
// paths compared.
func inside(p, dir string) bool {
	return len(p) > len(dir) && p[len(dir)] == '/' && p[:len(dir)] == dir
}

func (r relation) describe(protected, what string) string {
	switch r {
	case same:
		return "which is the " + what + " " + quote(protected)
	case ancestor:
		return "which contains the " + what + " " + quote(protected)
	default:
		return "which is inside the " + what + " " + quote(protected)
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
