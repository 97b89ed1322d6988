package validators

import "strings"

// pathList is a list of protected host paths in both readings: Linux paths
// (cleaned; one under /run also listed as /var/run/..., since /var/run is
// /run only where it is a symlink, so a mount of /var reaches it) and
// Windows paths (in windowsPath's form; pipes may end in "*" for a prefix).
// Each entry keeps who its socket lets connect and why it is dangerous.
type pathList struct {
	linux, windows []entry
	// byFirst indexes the Linux entries by their first path component: a
	// mount relates to an entry only when both start with the same one,
	// unless either is "/". Lists hold hundreds of entries; a mount looks
	// at a handful.
	byFirst map[string][]int
	// roots are the Linux entries that are "/" itself.
	roots []int
}

// entry is one protected path of a pathList.
type entry struct {
	path   string
	access SocketAccess
	why    string
}

// newPathList is a list the admin configures: daemonguard does not know
// its sockets' modes (open to the world) nor why each path matters.
func newPathList(linux, windows []string) pathList {
	var l pathList
	for _, p := range cleanAll(linux) {
		l.addLinux(entry{path: p, access: WorldSocket})
	}
	for _, p := range windows {
		l.windows = append(l.windows, entry{path: p, access: WorldSocket})
	}
	return l
}

// newFactList is a list of built-in facts.
func newFactList(linux, windows []Fact) pathList {
	var l pathList
	l.addFacts(linux)
	for i := range windows {
		l.windows = append(l.windows, entry{path: windows[i].Path, access: windows[i].Access, why: windows[i].Why})
	}
	return l
}

// configuredList is the list a rule uses: the policy's Linux paths when it
// sets them, else the built-in facts; the Windows facts always.
func configuredList(configured []string, linux, windows []Fact) pathList {
	if configured == nil {
		return newFactList(linux, windows)
	}
	l := newFactList(nil, windows)
	for _, p := range cleanAll(configured) {
		l.addLinux(entry{path: p, access: WorldSocket})
	}
	return l
}

func (l *pathList) addFacts(facts []Fact) {
	for i := range facts {
		l.addLinux(entry{path: CleanHostPath(facts[i].Path), access: facts[i].Access, why: facts[i].Why})
	}
}

// addLinux adds a cleaned Linux entry, and its /var/run spelling.
func (l *pathList) addLinux(e entry) {
	if l.byFirst == nil {
		l.byFirst = map[string][]int{}
	}
	add := func(e entry) {
		i := len(l.linux)
		l.linux = append(l.linux, e)
		if e.path == "/" {
			l.roots = append(l.roots, i)
			return
		}
		first := firstComponent(e.path)
		l.byFirst[first] = append(l.byFirst[first], i)
	}
	add(e)
	if e.path == "/run" || strings.HasPrefix(e.path, "/run/") {
		e.path = "/var" + e.path
		add(e)
	}
}

// firstComponent is the first component of a cleaned absolute path other
// than "/" ("var" for /var/lib).
func firstComponent(p string) string {
	first, _, _ := strings.Cut(p[1:], "/")
	return first
}

// eachLinux visits, in list order, the Linux entries a mount of dir (with
// the mount's child restriction) can relate to, until visit returns false.
func (l *pathList) eachLinux(dir string, visit func(i int) bool) {
	if dir == "/" {
		// A mount of "/" contains everything (and with a child pattern,
		// reaches children of any name).
		for i := range l.linux {
			if !visit(i) {
				return
			}
		}
		return
	}
	// The bucket and the roots, merged in list order.
	bucket, roots := l.byFirst[firstComponent(dir)], l.roots
	for len(bucket) > 0 || len(roots) > 0 {
		var i int
		if len(roots) == 0 || (len(bucket) > 0 && bucket[0] < roots[0]) {
			i, bucket = bucket[0], bucket[1:]
		} else {
			i, roots = roots[0], roots[1:]
		}
		if !visit(i) {
			return
		}
	}
}

// access is the most open socket access among the entries the mount
// relates to: a directory holding a root-only socket and a world one is
// open to the world.
func (l *pathList) access(m *HostMount) SocketAccess {
	most := RootSocket
	if !m.WindowsOnly {
		for _, dir := range m.readings() {
			if dir == "" {
				continue
			}
			l.eachLinux(dir, func(i int) bool {
				if m.relateFrom(dir, l.linux[i].path) != unrelated {
					most = max(most, l.linux[i].access)
				}
				return true
			})
		}
	}
	if m.Windows != "" {
		for _, e := range l.windows {
			if relateWindows(m.Windows, e.path) != unrelated {
				most = max(most, e.access)
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
// the list does not know). The host path is judged before the path it
// reaches through /proc, the Linux reading before the Windows one.
func (l *pathList) find(m *HostMount, ok func(rel relation, protected string) bool) (relation, string, string) {
	if !m.WindowsOnly {
		// The first entry either reading relates to, as a plain scan
		// of the list in order would find it.
		first := -1
		for _, dir := range m.readings() {
			if dir == "" {
				continue
			}
			l.eachLinux(dir, func(i int) bool {
				if first >= 0 && i >= first {
					return false
				}
				p := l.linux[i].path
				if r := m.relateFrom(dir, p); r != unrelated && (ok == nil || ok(m.relate(p), p)) {
					first = i
					return false
				}
				return true
			})
		}
		if first >= 0 {
			e := &l.linux[first]
			return m.relate(e.path), e.path, e.why
		}
	}
	if m.Windows != "" {
		for _, e := range l.windows {
			if rel := relateWindows(m.Windows, e.path); rel != unrelated && (ok == nil || ok(rel, e.path)) {
				return rel, windowsDisplay(strings.TrimSuffix(e.path, "*")), e.why
			}
		}
	}
	return unrelated, "", ""
}

// ancestorOf lists, as messages quote them, the entries the mount contains.
func (l *pathList) ancestorOf(m *HostMount) []string {
	var out []string
	if !m.WindowsOnly {
		for _, dir := range m.readings() {
			if dir == "" {
				continue
			}
			l.eachLinux(dir, func(i int) bool {
				if m.relateFrom(dir, l.linux[i].path) == ancestor {
					out = append(out, quote(l.linux[i].path))
				}
				return true
			})
		}
	}
	if m.Windows != "" {
		for _, e := range l.windows {
			if relateWindows(m.Windows, e.path) == ancestor {
				out = append(out, quote(windowsDisplay(e.path)))
			}
		}
	}
	return out
}
