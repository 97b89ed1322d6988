package node

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Isolation returns the machine directories a node must never change (what
// its hostPaths would reach without a root of its own), and the paths under
// them left out of the comparison because they change by themselves on
// these machines (package installs by other workers); nothing a node does
// writes there.
func Isolation() (roots, skips []string) {
	return []string{"/etc", "/opt", "/var/lib", "/run"}, []string{"/var/lib/apt", "/var/lib/dpkg", "/etc/ld.so.cache"}
}

// Snapshot is the state of the machine a node must leave as it found it:
// every file under the roots (type, mode, size, mtime; not contents or
// access times), the top two levels of every cgroup hierarchy, and the
// network interfaces. Other nodes' own cgroups, bridges and pod interfaces
// (another suite may run a node on the same machine) are left out; a node's
// own are checked by name after Stop (Node.Leftovers).
type Snapshot map[string]string

// othersNode reports whether a cgroup or link name is any node's: its
// cgroup parent, its bridge, or a pod's veth.
func othersNode(name string) bool {
	return strings.HasPrefix(name, "daemonguard-node-") || strings.HasPrefix(name, "dgn") || strings.HasPrefix(name, "veth")
}

// TakeSnapshot records roots minus skips, the cgroup directories and the
// network links.
func TakeSnapshot(roots, skips []string) (Snapshot, error) {
	s := Snapshot{}
	for _, root := range roots {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) || os.IsPermission(err) {
					return nil
				}
				return err
			}
			if slices.ContainsFunc(skips, func(skip string) bool { return p == skip || strings.HasPrefix(p, skip+"/") }) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			info, err := d.Info()
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			size := info.Size()
			if info.IsDir() {
				size = 0 // a directory's size is its allocation, not its entries
			}
			s[p] = fmt.Sprintf("%s size=%d mtime=%d", info.Mode(), size, info.ModTime().UnixNano())
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	launcher := launcherCgroups()
	for _, h := range cgroupHierarchies() {
		entries, _ := os.ReadDir(h)
		for _, e := range entries {
			if !e.IsDir() || othersNode(e.Name()) {
				continue
			}
			s["cgroup:"+filepath.Join(h, e.Name())] = "dir"
			if launcher[e.Name()] {
				continue
			}
			sub, _ := os.ReadDir(filepath.Join(h, e.Name()))
			for _, x := range sub {
				if x.IsDir() {
					s["cgroup:"+filepath.Join(h, e.Name(), x.Name())] = "dir"
				}
			}
		}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for _, i := range ifaces {
		if !othersNode(i.Name) {
			s["link:"+i.Name] = i.Flags.String()
		}
	}
	return s, nil
}

// launcherCgroups are the top-level cgroups this process runs inside (as
// /proc/self/cgroup names them): whatever started the suite makes and
// removes its children as it runs other commands, so their children are
// not the node's doing and are left out.
func launcherCgroups() map[string]bool {
	out := map[string]bool{}
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if top, _, _ := strings.Cut(strings.TrimPrefix(parts[2], "/"), "/"); top != "" {
			out[top] = true
		}
	}
	return out
}

// Diff lists what differs between two snapshots, one line per path.
func (s Snapshot) Diff(after Snapshot) []string {
	var out []string
	for p, v := range s {
		w, ok := after[p]
		switch {
		case !ok:
			out = append(out, "removed: "+p)
		case v != w:
			out = append(out, fmt.Sprintf("changed: %s (%s -> %s)", p, v, w))
		}
	}
	for p := range after {
		if _, ok := s[p]; !ok {
			out = append(out, "added: "+p)
		}
	}
	slices.Sort(out)
	return out
}
