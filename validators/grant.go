package validators

import (
	"strconv"
	"strings"
)

// Grant is the host access a path finding is about, for ratcheting: an
// UPDATE is judged against what the old object already granted, and a
// finding whose access lies within the access of some finding of the old
// object is no wider than it, so that teams can narrow grandfathered
// access step by step (read-only where it was writable, one socket where
// it was a whole directory, a non-root identity where it was root). It
// leaves out what grants nothing (volume names, mount paths, indices).
type Grant struct {
	// Container is the kind and name of the container ("unmounted volume"
	// for a volume no container mounts), Kind its kind alone.
	Container, Kind string
	// Path is the node path reached on Linux ("" for a Windows-only path),
	// Windows the Windows reading ("" when there is none).
	Path, Windows string
	// Child and ChildPrefix say the mount reaches only the children of
	// Path named ChildPrefix... (a subPathExpr with a one-component value).
	Child       bool
	ChildPrefix string
	Writable    bool
	// Propagates: Bidirectional mount propagation.
	Propagates bool
	// Rank is the container's identity (Identity.rank): what it may do.
	Rank int
	// Allow, on a finding about a path nobody classified, is the
	// allowedHostPaths entry that makes it known safe.
	Allow *AllowedHostPath
}

// unknownGrant is the grant of a finding about a path nobody classified.
func (t *Target) unknownGrant(m *HostMount) *Grant {
	g := t.grant(m)
	a := m.allowEntry()
	g.Allow = &a
	return g
}

// grant is the access of the mount, by its container's identity.
func (t *Target) grant(m *HostMount) *Grant {
	g := &Grant{Container: "unmounted volume", Kind: "unmounted volume", Windows: m.Windows, Child: m.Child, ChildPrefix: m.ChildPrefix,
		Writable: m.Writable, Rank: t.identity(m).rank()}
	if !m.Unmounted {
		g.Kind = containerKind(m.ContainerList)
		g.Container = g.Kind + " " + strconv.Quote(m.Container)
		g.Propagates = m.Mount.MountPropagation != nil && *m.Mount.MountPropagation == "Bidirectional"
	}
	if !m.WindowsOnly {
		g.Path = m.effectivePath()
	}
	return g
}

// Covers reports whether everything n grants, g grants too.
func (g *Grant) Covers(n *Grant) bool {
	// Only the kind of container is compared, not which: containers of one
	// pod can hand each other open files, so a mount grants its access to
	// the whole pod; an init container's runs once, at start.
	if g.Kind != n.Kind || (n.Writable && !g.Writable) || (n.Propagates && !g.Propagates) || n.Rank > g.Rank {
		return false
	}
	if n.Path != "" && (g.Path == "" || !g.reaches(g.Path, n.Path, n.Child, n.ChildPrefix)) {
		return false
	}
	if n.Windows != "" && (g.Windows == "" || !g.reaches(g.Windows, n.Windows, n.Child, n.ChildPrefix)) {
		return false
	}
	return true
}

// reaches reports whether a mount of dir, with g's child restriction,
// reaches everything a mount of p with the given one reaches.
func (g *Grant) reaches(dir, p string, child bool, prefix string) bool {
	if !g.Child {
		return p == dir || dir == "/" || inside(p, dir)
	}
	if p == dir {
		// Only the same children, or fewer.
		return child && strings.HasPrefix(prefix, g.ChildPrefix)
	}
	if !(dir == "/" || inside(p, dir)) {
		return false
	}
	name, _, _ := strings.Cut(strings.TrimPrefix(p[len(dir):], "/"), "/")
	return strings.HasPrefix(name, g.ChildPrefix)
}
