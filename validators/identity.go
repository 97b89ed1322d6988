package validators

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Identity is who a container may be on the node, as far as host files and
// sockets care: the uid and gid it may run with, the groups it carries, and
// what lets it past file permissions. It is read from the manifest only, so
// every "may" is what the author has not ruled out: the image is the
// author's choice, and so is what it holds (its USER, a setuid binary).
//
// Two questions are asked of it. RootReason, for the warnings: may it run
// as root by what it sets (uid 0 or unset without runAsNonRoot, group 0,
// a capability that bypasses file permissions, privileged)? Unprivileged,
// before a denial is lifted: does the manifest prove it cannot act as root
// or as root's group at all, whatever its image holds?
type Identity struct {
	// RootUser: the uid may be 0 — runAsUser is 0, or unset without
	// runAsNonRoot: true (the image's USER decides).
	RootUser bool
	// RootGroup: group 0 is set — runAsGroup, fsGroup or a supplemental
	// group is 0. Group 0 reads root:root 0640 files and connects to
	// root:root 0660 sockets (containerd's, CRI-O's).
	RootGroup bool
	// ImageGroup: runAsGroup is unset, so the image decides the gid; a USER
	// with no passwd entry in the image runs in group 0.
	ImageGroup bool
	// Groups: a non-zero supplemental group or fsGroup is added; it may be
	// the group a socket is shared with (docker's).
	Groups bool
	// SystemGroup is a group below 1000 other than 0 that runAsGroup, fsGroup
	// or a supplemental group sets (the first one), or -1: the range
	// distributions give their system groups, which own node files a
	// stranger may not read (shadow is 42 on Debian and Ubuntu, tty 5 owns
	// every terminal, disk 6 every block device, adm 4 the logs).
	SystemGroup int64
	// ImageGroups: supplementalGroupsPolicy is not Strict, so the runtime
	// also adds the groups the image's /etc/group lists for the uid
	// (KEP-3619), which the manifest does not show: group 0 among them.
	ImageGroups bool
	// Escalates: no_new_privs is not set (allowPrivilegeEscalation is not
	// false), so a setuid-root binary in the image runs with euid 0, which
	// owns every root file on the node, capabilities or not.
	Escalates bool
	// Privileged: every capability and every device.
	Privileged bool
	// Bypass are the added capabilities that bypass file permissions or
	// change the uid or gid at will, normalised (DAC_OVERRIDE, ...).
	Bypass []string
	// Windows: a container of a pod pinned to Windows nodes, where
	// RootUser means ContainerAdministrator.
	Windows bool
	// Via names another container of the pod whose identity this is,
	// when that one may do more than the mount's own.
	Via string
}

// bypassCapabilities let a process past file permission checks, or make it
// uid or gid 0 at will: with any of them a non-root uid reads, writes or
// connects as root would. SYS_ADMIN and ALL hold them all.
var bypassCapabilities = [...]string{"DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "CHOWN", "SETUID", "SETGID", "SYS_ADMIN", "ALL"}

// identityOf derives a container's identity from its security context and
// the pod's (the container's settings override the pod's).
func identityOf(pod *corev1.PodSecurityContext, sc *corev1.SecurityContext) Identity {
	var nonRoot, escalate *bool
	var user, group *int64
	id := Identity{SystemGroup: -1}
	id.ImageGroups = true
	if pod != nil {
		nonRoot, user, group = pod.RunAsNonRoot, pod.RunAsUser, pod.RunAsGroup
		id.ImageGroups = pod.SupplementalGroupsPolicy == nil || *pod.SupplementalGroupsPolicy != corev1.SupplementalGroupsPolicyStrict
		groups := pod.SupplementalGroups
		if pod.FSGroup != nil {
			groups = append(groups[:len(groups):len(groups)], *pod.FSGroup)
		}
		for _, g := range groups {
			if g == 0 {
				id.RootGroup = true
			} else {
				id.Groups = true
				id.systemGroup(g)
			}
		}
	}
	if sc != nil {
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			user = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			group = sc.RunAsGroup
		}
		escalate = sc.AllowPrivilegeEscalation
		id.Privileged = privileged(sc)
		if sc.Capabilities != nil {
			for _, c := range sc.Capabilities.Add {
				name := capabilityName(string(c))
				if slices.Contains(bypassCapabilities[:], name) && !slices.Contains(id.Bypass, name) {
					id.Bypass = append(id.Bypass, name)
				}
			}
		}
	}
	// With runAsNonRoot the kubelet refuses to start the container as uid
	// 0, whatever runAsUser or the image say.
	id.RootUser = (nonRoot == nil || !*nonRoot) && (user == nil || *user == 0)
	switch {
	case group == nil:
		id.ImageGroup = true
	case *group == 0:
		id.RootGroup = true
	default:
		id.systemGroup(*group)
	}
	id.Escalates = escalate == nil || *escalate || id.Privileged
	return id
}

// anyone is the identity of a container nobody has written yet: an
// ephemeral container that mounts a volume no container mounts.
var anyone = Identity{RootUser: true, RootGroup: true, ImageGroup: true, ImageGroups: true, Escalates: true}

// identity is who may use a mount: its container, or any other container
// of the pod that may do more, since containers of one pod can hand each
// other open files (SCM_RIGHTS over the pod's shared network namespace or
// a shared volume) and so each other's mounts. The reasons name that other
// container.
func (t *Target) identity(m *HostMount) Identity {
	if m.Unmounted {
		return anyone
	}
	spec := &t.DaemonSet.Spec.Template.Spec
	own := t.containerIdentity(t.containerSecurity(m.ContainerList, m.ContainerIndex))
	best, bestName := own, ""
	forEachContainer(spec, func(c containerRef) {
		if c.list == m.ContainerList && c.index == m.ContainerIndex {
			return
		}
		if id := t.containerIdentity(c.security); id.rank() > best.rank() {
			best, bestName = id, containerKind(c.list)+" "+quote(c.name)
		}
	})
	if bestName != "" {
		best.Via = bestName
	}
	return best
}

// containerIdentity is the identity of a container with security context sc.
func (t *Target) containerIdentity(sc *corev1.SecurityContext) Identity {
	spec := &t.DaemonSet.Spec.Template.Spec
	if podOnWindows(spec) {
		return windowsIdentityOf(spec.SecurityContext, sc)
	}
	return identityOf(spec.SecurityContext, sc)
}

// windowsIdentityOf is a Windows container's identity: the Linux fields do
// not apply there (the API server refuses them in a pod with os.name
// windows); a container runs as ContainerAdministrator unless
// runAsUserName says ContainerUser, the unprivileged account Windows base
// images provide (the container's setting overrides the pod's).
func windowsIdentityOf(pod *corev1.PodSecurityContext, sc *corev1.SecurityContext) Identity {
	var user *string
	if pod != nil && pod.WindowsOptions != nil {
		user = pod.WindowsOptions.RunAsUserName
	}
	if sc != nil && sc.WindowsOptions != nil && sc.WindowsOptions.RunAsUserName != nil {
		user = sc.WindowsOptions.RunAsUserName
	}
	if user != nil && strings.EqualFold(*user, "ContainerUser") {
		return Identity{}
	}
	return Identity{RootUser: true, Windows: true}
}

// RootReason says, in a clause for messages, why the container may run as
// root by what it sets, or "" when it sets a non-root uid and group (and
// nothing that bypasses file permissions).
func (id Identity) RootReason() string { return id.via(id.rootReason()) }

// via prefixes a reason with the other container it belongs to.
func (id Identity) via(why string) string {
	if why == "" || id.Via == "" {
		return why
	}
	return "shares its pod with " + id.Via + ", which can be handed its open files and " + why
}

func (id Identity) rootReason() string {
	switch {
	case id.Privileged:
		return "is privileged"
	case id.RootUser && id.Windows:
		return "runs as ContainerAdministrator (no windowsOptions.runAsUserName: ContainerUser)"
	case id.RootUser:
		return "may run as root (uid 0: no runAsUser and no runAsNonRoot: true)"
	case len(id.Bypass) > 0:
		return "adds capability " + strings.Join(id.Bypass, ", ") + ", which bypasses file permissions"
	case id.RootGroup:
		return "runs in group 0 (runAsGroup, fsGroup or a supplemental group is 0)"
	case id.SystemGroup > 0:
		return "runs in group " + strconv.FormatInt(id.SystemGroup, 10) + ", a system group (below 1000), which owns node files others may not read (shadow is 42 on Debian and Ubuntu, tty 5, disk 6, adm 4)"
	}
	return ""
}

// processes is the identity as ptrace access checks see it: by uid, gid
// and capabilities; a system group opens files, not other processes.
func (id Identity) processes() Identity {
	id.SystemGroup = -1
	return id
}

// systemGroup records g when it is the first system group seen.
func (id *Identity) systemGroup(g int64) {
	if g > 0 && g < 1000 && id.SystemGroup < 0 {
		id.SystemGroup = g
	}
}

// PrivilegeReason says why the manifest does not prove the container
// unprivileged: RootReason, or what its image could still do (a gid it
// picks, a setuid binary); "" when it is proven unprivileged.
func (id Identity) PrivilegeReason() string { return id.via(id.privilegeReason()) }

func (id Identity) privilegeReason() string {
	switch {
	case id.rootReason() != "":
		return id.rootReason()
	case id.ImageGroup:
		return "leaves its group to the image (no runAsGroup), which may be group 0"
	case id.ImageGroups:
		return "takes extra groups from its image's /etc/group (supplementalGroupsPolicy is not Strict), which may be group 0"
	case id.Escalates:
		return "may become root through a setuid binary in its image (allowPrivilegeEscalation is not false)"
	}
	return ""
}

// Unprivileged reports whether the manifest proves the container can act
// neither as root nor as root's group, whatever its image holds.
func (id Identity) Unprivileged() bool { return id.PrivilegeReason() == "" }

// ConnectReason says why the container can connect to a socket opened to
// access, or "" when it cannot: only a proven unprivileged identity is kept
// off a root-only socket, and off a group-shared one only without added
// groups; a world socket takes anyone.
func (id Identity) ConnectReason(access SocketAccess) string {
	if why := id.PrivilegeReason(); why != "" {
		return why
	}
	switch access {
	case WorldSocket:
		return "can connect as any user (the socket is open to every user)"
	case GroupSocket:
		// Which gid a distribution gives the socket's group is not
		// known (docker is 233 on Flatcar): any group may be it.
		return "runs with a group that may be the one the socket is shared with (its gid differs by distribution)"
	}
	return ""
}

// connects says why the container of a mount can connect to the sockets it
// reaches, opened to access ("" when it cannot). A plain read-only "/" is
// how node monitors see the node: there the manifest's uid and group decide
// (RootReason, and an unset runAsGroup), not what a setuid binary or the
// image's /etc/group could add, or every node-exporter would be denied;
// anywhere else only a proven unprivileged identity is kept off a socket.
func (t *Target) connects(m *HostMount, access SocketAccess) string {
	id := t.identity(m)
	if m.plainRoot() {
		if why := id.RootReason(); why != "" {
			return why
		}
		if id.ImageGroup {
			// Without runAsGroup an image whose passwd has no entry
			// for the uid runs it in group 0, which connects to
			// root:root 0660 sockets (shown on the node).
			return id.via("leaves its group to the image (no runAsGroup), which may be group 0")
		}
		return ""
	}
	return id.ConnectReason(access)
}

// rank orders identities by what they may do, for ratcheting: an UPDATE
// may lower it, not raise it.
func (id Identity) rank() int {
	switch {
	case id.rootReason() != "":
		return 3
	case id.privilegeReason() != "":
		return 2
	case id.Groups:
		return 1
	}
	return 0
}

// SocketAccess is who a socket's owner, group and mode let connect.
type SocketAccess int

const (
	// RootSocket: root:root 0660 or tighter (containerd, CRI-O, the
	// kubelet's sockets, systemd's private bus).
	RootSocket SocketAccess = iota
	// GroupSocket: also shared with a group besides root's (docker.sock and
	// the docker group).
	GroupSocket
	// WorldSocket: any user may connect, or the mode is not known (the
	// D-Bus system bus and snapd are 0666; their own policy decides).
	WorldSocket
)
