package validators

import (
	"fmt"
	"strings"
)

// The access model. Every host path a container reaches is, to
// daemonguard, one of three things:
//
//   - known dangerous: the node executes, loads or trusts what is there, keeps
//     keys or other containers' data there, or serves a control socket there.
//     The path rules (writable-sensitive-hostpath, credential-read,
//     container-runtime-socket, host-control-socket, writable-pod-logs, ...)
//     hold these lists, each entry with why;
//   - known safe: what real agents need and nothing on the node trusts (their
//     own state, logs, the kernel's public interfaces), in knownSafePaths,
//     each entry with the agents that need it and the source that shows it,
//     plus what the admin allows in the policy (validation.allowedHostPaths);
//   - unknown: everything else. Unknown is not safe: a writable mount of an
//     unknown path by a container that can act as root is denied
//     (unknown-writable-hostpath), any mount of an unknown socket or of an
//     unknown directory under /run is denied (unknown-socket), and a
//     read-only mount of an unknown path by a container that may run as
//     root is warned about (unknown-hostpath-read).

// Fact is what daemonguard knows about one host path: why it is dangerous,
// and where that is shown (an upstream file at a version, or a document;
// "(unverified)" where the research could not confirm it).
type Fact struct {
	// Path is cleaned: a Linux path, or a Windows one in windowsPath's form
	// (a pipe may end in "*" for a prefix).
	Path        string
	Why, Source string
	// Access is who a socket's mode lets connect, for socket entries.
	Access SocketAccess
}

// factPaths returns the paths of facts, in order.
func factPaths(facts []Fact) []string {
	out := make([]string, len(facts))
	for i := range facts {
		out[i] = facts[i].Path
	}
	return out
}

// Access is what a mount lets a container do at a host path.
type Access uint8

const (
	// Read: list and read files (a read-only mount).
	Read Access = 1 << iota
	// Write: create, change and replace files (a writable mount).
	Write
)

// SafePath is a host path daemonguard knows nothing on the node trusts for
// the access it allows: a mount at or below Path with no more than that
// access is known safe.
type SafePath struct {
	// Path is cleaned: a Linux path, or a Windows one in windowsPath's form
	// ("c:/var/log").
	Path string
	// Access is what is safe there: Read (which covers connecting to a
	// socket inside) or Read|Write.
	Access Access
	// Agents are the agents that need it, Why says why nothing on the node
	// trusts it, Source is where that is shown.
	Agents, Why, Source string
}

// AllowedHostPath is one entry of the admin's allowlist in the policy file,
// as PodSecurityPolicy's allowedHostPaths had it: a host path prefix (on
// path component boundaries) and whether only read-only mounts of it are
// allowed.
type AllowedHostPath struct {
	PathPrefix string `json:"pathPrefix"`
	ReadOnly   bool   `json:"readOnly,omitempty"`
}

// knowledge is what the path rules know, in one place for the rules that
// judge what is left unknown.
type knowledge struct {
	// dangerous are the lists of the path rules, as the policy configures
	// them; read are those where a read-only mount is dangerous too
	// (credentials, sockets).
	dangerous []pathList
	read      []pathList
	// safe are the built-in safe paths and the admin's, by access.
	safeRead, safeWrite pathList
}

func newKnowledge(o Options) *knowledge {
	k := &knowledge{}
	credentials := credentialPaths()
	runtime := configuredList(o.RuntimeSockets, defaultRuntimeSockets[:], windowsRuntimePipes[:])
	control := newFactList(defaultHostControlSockets[:], windowsHostControlSockets[:])
	k.read = []pathList{credentials, runtime, control}
	k.dangerous = append([]pathList{
		configuredList(o.SensitiveHostPaths, defaultSensitiveHostPaths[:], windowsSensitiveHostPaths[:]),
		newPathList(podLogPaths[:], windowsPodLogPaths[:]),
	}, k.read...)
	var readL, readW, writeL, writeW []string
	add := func(path string, access Access) {
		if w, _ := windowsPath(path, false); w != "" {
			readW = append(readW, w)
			if access&Write != 0 {
				writeW = append(writeW, w)
			}
			return
		}
		readL = append(readL, path)
		if access&Write != 0 {
			writeL = append(writeL, path)
		}
	}
	for _, s := range knownSafePaths {
		add(s.Path, s.Access)
	}
	for _, a := range o.AllowedHostPaths {
		access := Read | Write
		if a.ReadOnly {
			access = Read
		}
		add(a.PathPrefix, access)
	}
	k.safeRead, k.safeWrite = newPathList(readL, readW), newPathList(writeL, writeW)
	return k
}

// known reports whether some path rule's list relates to the mount: that
// rule judges it. With readOnly, only the lists where reading is dangerous
// count. A plain mount of "/" relates to every list; the rules judge it.
func (k *knowledge) known(m *HostMount, readOnly bool) bool {
	lists := k.dangerous
	if readOnly {
		lists = k.read
	}
	for i := range lists {
		if rel, _ := lists[i].match(m); rel != unrelated {
			return true
		}
	}
	return false
}

// safe reports whether everything the mount reaches, in every reading,
// lies at or below a known-safe path for the access: a mount that contains
// a safe path is not itself safe, and neither is /proc/1/root/etc because
// /proc is.
func (k *knowledge) safe(m *HostMount, access Access) bool {
	l := &k.safeRead
	if access&Write != 0 {
		l = &k.safeWrite
	}
	within := func(rel relation) bool { return rel == same || rel == under }
	if !m.WindowsOnly {
		for _, dir := range m.readings() {
			if dir == "" {
				continue
			}
			covered := false
			l.eachLinux(dir, func(i int) bool {
				covered = within(m.relateFrom(dir, l.linux[i].path))
				return !covered
			})
			if !covered {
				return false
			}
		}
	}
	if m.Windows != "" {
		covered := false
		for _, e := range l.windows {
			if within(relateWindows(m.Windows, e.path)) {
				covered = true
				break
			}
		}
		if !covered {
			return false
		}
	}
	return true
}

// socketLike reports whether a mount may reach a node daemon's socket: a
// hostPath of type Socket, a name that says socket, anything under /run
// (where daemons put them), or a Windows named pipe.
func (m *HostMount) socketLike() bool {
	if m.Type == "Socket" {
		return true
	}
	if m.Windows != "" && strings.HasPrefix(m.Windows, pipePrefix) {
		return true
	}
	if m.WindowsOnly {
		return false
	}
	p := m.effectivePath()
	base := p[strings.LastIndexByte(p, '/')+1:]
	return strings.HasSuffix(base, ".sock") || strings.HasSuffix(base, ".socket") ||
		p == "/run" || strings.HasPrefix(p, "/run/")
}

// allowLine is the allowlist entry that makes the mount's host path known
// safe for its access, as a message shows it (without brackets: messages
// hold no list indices).
func (m *HostMount) allowLine() string {
	a := m.allowEntry()
	return fmt.Sprintf("{pathPrefix: %s, readOnly: %t} to the policy's validation.allowedHostPaths", quote(a.PathPrefix), a.ReadOnly)
}

// allowEntry is that entry.
func (m *HostMount) allowEntry() AllowedHostPath {
	path := m.HostPath
	if m.WindowsOnly {
		path = windowsDisplay(m.Windows)
	}
	return AllowedHostPath{PathPrefix: path, ReadOnly: !m.Writable}
}
