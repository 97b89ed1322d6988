package validators

import "strings"

// pathList is a list of protected host paths in both readings: Linux paths
// (cleaned; one under /run also listed as /var/run/..., since /var/run is
// /run only where it is a symlink, so a mount of /var reaches it) and
// Windows paths (in windowsPath's form; pipes may end in "*" for a prefix).
type pathList struct {
	linux   []string
	windows []string
	// access is who each socket entry lets connect, by entry (nil: every
	// entry is a WorldSocket, as for a list the admin configures, whose
	// modes daemonguard cannot know).
	linuxAccess, windowsAccess []SocketAccess
	// why says why each entry is dangerous, by entry ("" for a list the
	// admin configures).
	linuxWhy, windowsWhy []string
}

func newPathList(linux, windows []string) pathList {
	var l pathList
	for _, p := range cleanAll(linux) {
		l.linux = append(l.linux, p)
		if p == "/run" || strings.HasPrefix(p, "/run/") {
			l.linux = append(l.linux, "/var"+p)
		}
	}
	l.windows = windows
	return l
}

// newFactList is newPathList over built-in facts, keeping their access.
func newFactList(linux, windows []Fact) pathList {
	var l pathList
	for i := range linux {
		p := CleanHostPath(linux[i].Path)
		l.linux = append(l.linux, p)
		l.linuxAccess = append(l.linuxAccess, linux[i].Access)
		l.linuxWhy = append(l.linuxWhy, linux[i].Why)
		if p == "/run" || strings.HasPrefix(p, "/run/") {
			l.linux = append(l.linux, "/var"+p)
			l.linuxAccess = append(l.linuxAccess, linux[i].Access)
			l.linuxWhy = append(l.linuxWhy, linux[i].Why)
		}
	}
	for i := range windows {
		l.windows = append(l.windows, windows[i].Path)
		l.windowsAccess = append(l.windowsAccess, windows[i].Access)
		l.windowsWhy = append(l.windowsWhy, windows[i].Why)
	}
	return l
}

// configuredList is the list a rule uses: the policy's Linux paths when it
// sets them (their modes unknown: open to the world), else the built-in
// facts; the Windows facts always.
func configuredList(configured []string, linux, windows []Fact) pathList {
	if configured == nil {
		return newFactList(linux, windows)
	}
	l := newFactList(nil, windows)
	for _, p := range cleanAll(configured) {
		l.linux = append(l.linux, p)
		l.linuxAccess = append(l.linuxAccess, WorldSocket)
		l.linuxWhy = append(l.linuxWhy, "")
		if p == "/run" || strings.HasPrefix(p, "/run/") {
			l.linux = append(l.linux, "/var"+p)
			l.linuxAccess = append(l.linuxAccess, WorldSocket)
			l.linuxWhy = append(l.linuxWhy, "")
		}
	}
	return l
}

// access is the most open socket access among the entries the mount
// relates to: a directory holding a root-only socket and a world one is
// open to the world.
func (l *pathList) access(m *HostMount) SocketAccess {
	most := RootSocket
	at := func(list []SocketAccess, i int) SocketAccess {
		if list == nil {
			return WorldSocket
		}
		return list[i]
	}
	if !m.WindowsOnly {
		for i, p := range l.linux {
			if m.relate(p) != unrelated {
				most = max(most, at(l.linuxAccess, i))
			}
		}
	}
	if m.Windows != "" {
		for i, p := range l.windows {
			if relateWindows(m.Windows, p) != unrelated {
				most = max(most, at(l.windowsAccess, i))
			}
		}
	}
	return most
}

// match returns how the mount relates to the first listed path it relates
// to, and that path as a message names it; unrelated when none. One mount
// gives one match, however many entries and readings it hits.
func (l *pathList) match(m *HostMount) (relation, string) { return l.matchWhere(m, nil) }

// matchWhere is match limited to the relations ok accepts (nil: all).
func (l *pathList) matchWhere(m *HostMount, ok func(rel relation, protected string) bool) (relation, string) {
	rel, path, _ := l.find(m, ok)
	return rel, path
}

// find is matchWhere that also says why the entry is dangerous ("" when
// the list does not know).
func (l *pathList) find(m *HostMount, ok func(rel relation, protected string) bool) (relation, string, string) {
	why := func(list []string, i int) string {
		if list == nil {
			return ""
		}
		return list[i]
	}
	if !m.WindowsOnly {
		for i, p := range l.linux {
			if rel := m.relate(p); rel != unrelated && (ok == nil || ok(rel, p)) {
				return rel, p, why(l.linuxWhy, i)
			}
		}
	}
	if m.Windows != "" {
		for i, p := range l.windows {
			if rel := relateWindows(m.Windows, p); rel != unrelated && (ok == nil || ok(rel, p)) {
				return rel, windowsDisplay(strings.TrimSuffix(p, "*")), why(l.windowsWhy, i)
			}
		}
	}
	return unrelated, "", ""
}
