package validators

import (
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// How a Windows kubelet reads a hostPath (k8s pkg/volume/util: a path with a
// drive letter is used as is, a path starting with "/" or "\" gets "c:" in
// front, `\\.\pipe\` names and other UNC paths are passed through). NTFS
// and pipe names are case-insensitive, "/" and "\" are both separators, and
// the API server's ".." check splits on "/" only, so `C:\k\..\Windows`
// reaches the API server unchanged and the node resolves it.

// pipePrefix is how every named pipe starts, in the form windowsPath
// returns.
const pipePrefix = `\\.\pipe\`

// podOnWindows reports whether the pod is pinned to Windows nodes, where a
// driveless absolute path lands on c:.
func podOnWindows(spec *corev1.PodSpec) bool {
	if spec.OS != nil && spec.OS.Name == corev1.Windows {
		return true
	}
	if isWindowsLabel(spec.NodeSelector[corev1.LabelOSStable]) || isWindowsLabel(spec.NodeSelector["beta.kubernetes.io/os"]) {
		return true
	}
	// Only Windows nodes carry a Windows build label.
	if spec.NodeSelector[corev1.LabelWindowsBuild] != "" {
		return true
	}
	// Required node affinity on the OS label pins the pod as surely: one
	// term naming windows is enough (terms are ORed).
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
			for _, r := range term.MatchExpressions {
				if (r.Key == corev1.LabelOSStable || r.Key == "beta.kubernetes.io/os") && r.Operator == corev1.NodeSelectorOpIn && slices.ContainsFunc(r.Values, isWindowsLabel) {
					return true
				}
			}
		}
	}
	return false
}

func isWindowsLabel(v string) bool { return strings.EqualFold(v, "windows") }

// windowsPath returns raw as a Windows kubelet reads it: a named pipe as
// `\\.\pipe\name` in lower case; any other path in lower case with "/"
// separators, cleaned of ".", ".." and repeated separators, on a drive
// ("c:/windows", the drive root as "c:"; `\\?\C:\x` and `\\.\C:\x` are
// C:\x). It returns "" when the path has no Windows syntax (drive letter,
// backslash, device prefix) and the pod is not pinned to Windows.
// windowsOnly says the path cannot be a Linux path to anything (it has a
// drive letter or a backslash), so only the Windows reading is shown; the
// Linux reading of a path with forward slashes only is always judged too
// (//./etc is /etc to Linux).
func windowsPath(raw string, windowsPod bool) (path string, windowsOnly bool) {
	backslash := strings.IndexByte(raw, '\\') >= 0
	if len(raw) >= 4 && isSep(raw[0]) && isSep(raw[1]) && (raw[2] == '.' || raw[2] == '?') && isSep(raw[3]) {
		// A device path: \\.\pipe\name, or \\?\C:\... and \\.\C:\..., which
		// Windows opens as the drive path itself.
		rest := raw[4:]
		// \\?\GLOBALROOT\??\C:\x is the NT namespace's spelling of C:\x.
		if g, ok := cutPrefixFold(rest, `globalroot\??\`); ok {
			rest = g
		} else if g, ok := cutPrefixFold(rest, `globalroot/??/`); ok {
			rest = g
		}
		if !(len(rest) >= 2 && rest[1] == ':' && isLetter(rest[0])) {
			p := strings.TrimRight(strings.ReplaceAll(strings.ToLower(raw), "/", `\`), `\`)
			return `\\.\` + p[4:], backslash
		}
		raw = rest
	} else if len(raw) >= 2 && isSep(raw[0]) && isSep(raw[1]) {
		if !backslash {
			// //etc/ is /etc to Linux; as a share name on Windows it
			// reaches no node path.
			return "", false
		}
		// A share (\\server\share): not a node path either; one spelling.
		return strings.TrimRight(strings.ReplaceAll(strings.ToLower(raw), "/", `\`), `\`), backslash
	}
	drive := len(raw) >= 2 && raw[1] == ':' && isLetter(raw[0])
	if !drive && !backslash && !(windowsPod && strings.HasPrefix(raw, "/")) {
		return "", false
	}
	if len(raw) >= 4 && raw[0] == '\\' && raw[1] == '?' && raw[2] == '?' && raw[3] == '\\' {
		// \??\C:\x, the NT object manager's DOS device prefix.
		raw = raw[4:]
		drive = len(raw) >= 2 && raw[1] == ':' && isLetter(raw[0])
	}
	lower := strings.ToLower(raw)
	prefix, rest := "c:", lower
	if drive {
		prefix, rest = lower[:2], lower[2:]
	}
	var parts []string
	for _, c := range strings.FieldsFunc(rest, func(r rune) bool { return r == '/' || r == '\\' }) {
		switch c {
		case ".":
		case "..":
			if len(parts) > 0 {
				parts = parts[:len(parts)-1]
			}
		default:
			// After the drive a colon only starts an NTFS stream name:
			// pods::$INDEX_ALLOCATION and pods:$I30:$INDEX_ALLOCATION open
			// the directory pods itself, file::$DATA the file; any other
			// stream of a file is judged as the file.
			if i := strings.IndexByte(c, ':'); i >= 0 {
				c = c[:i]
			}
			// Win32 path normalisation drops a component's trailing dots
			// and spaces: C:\k.\config is C:\k\config.
			c = strings.TrimRight(c, ". ")
			if c == "" {
				continue
			}
			if shortName(c) {
				// An 8.3 short name (PROGRA~1) is some entry of this
				// directory: judge the directory, which contains it.
				return windowsJoin(prefix, parts), drive || backslash
			}
			parts = append(parts, c)
		}
	}
	return windowsJoin(prefix, parts), drive || backslash
}

// windowsJoin spells a drive and its components in windowsPath's form.
func windowsJoin(prefix string, parts []string) string {
	if len(parts) == 0 {
		return prefix
	}
	return prefix + "/" + strings.Join(parts, "/")
}

// shortName reports whether a path component looks like an 8.3 short name
// ("progra~1"): a tilde followed by a digit.
func shortName(c string) bool {
	i := strings.IndexByte(c, '~')
	return i >= 0 && i+1 < len(c) && c[i+1] >= '0' && c[i+1] <= '9'
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix) {
		return s[len(prefix):], true
	}
	return s, false
}

func isSep(b byte) bool { return b == '/' || b == '\\' }

func isLetter(b byte) bool { return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') }

// relateWindows compares a Windows reading with a protected Windows path: a
// pipe entry ending in "*" matches every pipe named with that prefix.
func relateWindows(mounted, protected string) relation {
	if strings.HasPrefix(protected, `\\`) {
		if p, ok := strings.CutSuffix(protected, "*"); ok {
			if strings.HasPrefix(mounted, p) {
				return same
			}
			if mounted == strings.TrimRight(pipePrefix, `\`) {
				return ancestor
			}
			return unrelated
		}
		switch {
		case mounted == protected:
			return same
		case strings.HasPrefix(protected, mounted+`\`):
			return ancestor
		case strings.HasPrefix(mounted, protected+`\`):
			return under
		}
		return unrelated
	}
	if strings.HasPrefix(mounted, `\\`) {
		return unrelated
	}
	return relate(mounted, protected)
}

// windowsDisplay spells a Windows reading as Windows users write it.
func windowsDisplay(p string) string {
	if strings.HasPrefix(p, `\\`) {
		return p
	}
	if isRoot(p) {
		return p + `\`
	}
	return strings.ReplaceAll(p, "/", `\`)
}

// quoteList quotes the first n of items for a message, comma separated.
func quoteList(items []string, n int) string {
	var b strings.Builder
	for i, s := range items[:min(n, len(items))] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(s))
	}
	return b.String()
}

// quote quotes s for a message, leaving backslashes as they are (a Windows
// path with every backslash doubled is hard to read) unless s holds a
// character that needs escaping.
func quote(s string) string {
	if strings.ContainsAny(s, "\"\n\r\t") {
		return strconv.Quote(s)
	}
	return `"` + s + `"`
}
