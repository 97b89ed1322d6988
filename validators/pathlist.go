package validators

import "strings"

// pathList is a list of protected host paths in both readings: Linux paths
// (cleaned; one under /run also listed as /var/run/..., since /var/run is
// /run only where it is a symlink, so a mount of /var reaches it) and
// Windows paths (in windowsPath's form; pipes may end in "*" for a prefix).
type pathList struct {
	linux   []string
	windows []string
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

// match returns how the mount relates to the first listed path it relates
// to, and that path as a message names it; unrelated when none. One mount
// gives one match, however many entries and readings it hits.
func (l *pathList) match(m *HostMount) (relation, string) { return l.matchWhere(m, nil) }

// matchWhere is match limited to the relations ok accepts (nil: all).
func (l *pathList) matchWhere(m *HostMount, ok func(rel relation, protected string) bool) (relation, string) {
	if !m.WindowsOnly {
		for _, p := range l.linux {
			if rel := m.relate(p); rel != unrelated && (ok == nil || ok(rel, p)) {
				return rel, p
			}
		}
	}
	if m.Windows != "" {
		for _, p := range l.windows {
			if rel := relateWindows(m.Windows, p); rel != unrelated && (ok == nil || ok(rel, p)) {
				return rel, windowsDisplay(strings.TrimSuffix(p, "*"))
			}
		}
	}
	return unrelated, ""
}
