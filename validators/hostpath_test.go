package validators

import (
	"github.com/daemonguard/daemonguard/test/dstest"
	"path"
	"strings"
	"testing"
)

func TestCleanHostPath(t *testing.T) {
	cases := map[string]struct {
		in, want string
	}{
		"already clean":                     {"/etc", "/etc"},
		"root":                              {"/", "/"},
		"empty is root":                     {"", "/"},
		"double leading slash":              {"//etc/", "/etc"},
		"trailing slash":                    {"/var/lib/kubelet/", "/var/lib/kubelet"},
		"repeated slashes inside":           {"/var//lib///kubelet", "/var/lib/kubelet"},
		"dot segments":                      {"/./etc/./kubernetes/.", "/etc/kubernetes"},
		"relative path made absolute":       {"etc", "/etc"},
		"relative dot path":                 {"./var/run/docker.sock", "/run/docker.sock"},
		"dotdot above root stays at root":   {"/../../etc", "/etc"},
		"var run is run":                    {"/var/run", "/run"},
		"var run with trailing slash":       {"/var/run/", "/run"},
		"var run child":                     {"/var/run/docker.sock", "/run/docker.sock"},
		"var run back into run":             {"/var/run/../run/docker.sock", "/run/docker.sock"},
		"var run parent follows symlink":    {"/var/run/../etc", "/etc"},
		"var run parent of parent":          {"/var/run/../../etc", "/etc"},
		"var run parent is root":            {"/var/run/..", "/"},
		"var dotdot var run":                {"/var/log/../run/containerd", "/run/containerd"},
		"var runner is not var run":         {"/var/runner/x", "/var/runner/x"},
		"var run only at the top":           {"/opt/var/run/x", "/opt/var/run/x"},
		"run stays run":                     {"/run/containerd/containerd.sock", "/run/containerd/containerd.sock"},
		"double slash var run":              {"//var//run//crio/", "/run/crio"},
		"dotdot inside a sensitive path":    {"/etc/kubernetes/../kubernetes/pki", "/etc/kubernetes/pki"},
		"dotdot out of a harmless path":     {"/var/log/../../etc", "/etc"},
		"var lib kubelet spelled with dots": {"/var/lib/../lib/kubelet", "/var/lib/kubelet"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := CleanHostPath(tc.in); got != tc.want {
				t.Errorf("CleanHostPath(%q) = %q, want %q", tc.in, got, tc.want)
			}
			// Cleaning is idempotent.
			if again := CleanHostPath(CleanHostPath(tc.in)); again != tc.want {
				t.Errorf("CleanHostPath twice = %q, want %q", again, tc.want)
			}
		})
	}
}

func TestRelate(t *testing.T) {
	cases := map[string]struct {
		mounted, protected string
		want               relation
	}{
		"same":                            {"/etc", "/etc", same},
		"root is root":                    {"/", "/", same},
		"root contains everything":        {"/", "/var/lib/kubelet", ancestor},
		"var contains var lib kubelet":    {"/var", "/var/lib/kubelet", ancestor},
		"var lib contains var lib etcd":   {"/var/lib", "/var/lib/etcd", ancestor},
		"under etc":                       {"/etc/cni/net.d", "/etc", under},
		"under kubelet":                   {"/var/lib/kubelet/pods", "/var/lib/kubelet", under},
		"protected root matches nothing":  {"/var/log", "/", unrelated},
		"protected root not under":        {"/etc", "/", unrelated},
		"var log unrelated":               {"/var/log", "/var/lib/kubelet", unrelated},
		"sibling prefix is not ancestor":  {"/var/lib/kube", "/var/lib/kubelet", unrelated},
		"sibling prefix is not under":     {"/etcd", "/etc", unrelated},
		"lib64 is not under lib":          {"/lib64", "/lib", unrelated},
		"lib is not an ancestor of lib64": {"/lib", "/lib64", unrelated},
		"socket file same":                {"/run/docker.sock", "/run/docker.sock", same},
		"socket dir contains":             {"/run/containerd", "/run/containerd/containerd.sock", ancestor},
		"sibling of socket unrelated":     {"/run/containerd/s", "/run/containerd/containerd.sock", unrelated},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := relate(tc.mounted, tc.protected); got != tc.want {
				t.Errorf("relate(%q, %q) = %d, want %d", tc.mounted, tc.protected, got, tc.want)
			}
		})
	}
}

func TestViaProc(t *testing.T) {
	cases := map[string]struct {
		in, want string
	}{
		"init's root":             {"/proc/1/root", "/"},
		"under init's root":       {"/proc/1/root/run/containerd/containerd.sock", "/run/containerd/containerd.sock"},
		"self":                    {"/proc/self/root/etc", "/etc"},
		"thread-self":             {"/proc/thread-self/root/etc", "/etc"},
		"working directory":       {"/proc/1/cwd/run", "/run"},
		"a task's root":           {"/proc/1/task/1/root/run", "/run"},
		"var run inside is run":   {"/proc/1/root/var/run/docker.sock", "/run/docker.sock"},
		"nested":                  {"/proc/self/root/proc/1/cwd/etc", "/etc"},
		"proc itself":             {"/proc", ""},
		"a process":               {"/proc/1", ""},
		"another link":            {"/proc/1/exe", ""},
		"not a process":           {"/proc/sys/root/x", ""},
		"a task without a number": {"/proc/1/task/x/root", ""},
		"not under proc":          {"/host/proc/1/root", ""},
		"root is only the link":   {"/proc/1/rootfs/etc", ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := viaProc(CleanHostPath(tc.in)); got != tc.want {
				t.Errorf("viaProc(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestHostMounts(t *testing.T) {
	type hm struct {
		field, hostPath string
		writable        bool
	}
	cases := map[string]struct {
		opts []dstest.PodOpt
		want []hm
	}{
		"no volumes": {
			opts: []dstest.PodOpt{dstest.Container("c", dstest.Mount("x", "/x"))},
		},
		"non-hostPath volumes are ignored": {
			opts: []dstest.PodOpt{dstest.EmptyDirVolume("scratch"), dstest.Container("c", dstest.Mount("scratch", "/scratch"))},
		},
		"mount of a missing volume is ignored, the unmounted volume is writable": {
			opts: []dstest.PodOpt{dstest.HostVolume("logs", "/var/log"), dstest.Container("c", dstest.Mount("other", "/x"))},
			want: []hm{{"spec.template.spec.volumes[0]", "/var/log", true}},
		},
		"writable and read-only": {
			opts: []dstest.PodOpt{
				dstest.HostVolume("logs", "/var/log/"), dstest.HostVolume("run", "/var/run"),
				dstest.Container("c", dstest.Mount("logs", "/logs"), dstest.Mount("run", "/run", dstest.ReadOnly)),
			},
			want: []hm{
				{"spec.template.spec.containers[0].volumeMounts[0]", "/var/log", true},
				{"spec.template.spec.containers[0].volumeMounts[1]", "/run", false},
			},
		},
		"containers then init then ephemeral": {
			opts: []dstest.PodOpt{
				dstest.HostVolume("v", "/data"),
				dstest.EphemeralContainer("debug", dstest.Mount("v", "/d", dstest.ReadOnly)),
				dstest.InitContainer("init", dstest.Mount("v", "/d")),
				dstest.Container("main", dstest.Mount("v", "/d", dstest.ReadOnly)),
			},
			want: []hm{
				{"spec.template.spec.containers[0].volumeMounts[0]", "/data", false},
				{"spec.template.spec.initContainers[0].volumeMounts[0]", "/data", true},
				{"spec.template.spec.ephemeralContainers[0].volumeMounts[0]", "/data", false},
			},
		},
		"subPath joined": {
			opts: []dstest.PodOpt{dstest.HostVolume("var", "/var"), dstest.Container("c", dstest.Mount("var", "/k", dstest.SubPath("lib/kubelet")))},
			want: []hm{{"spec.template.spec.containers[0].volumeMounts[0]", "/var/lib/kubelet", true}},
		},
		"subPath climbing out": {
			opts: []dstest.PodOpt{dstest.HostVolume("logs", "/var/log"), dstest.Container("c", dstest.Mount("logs", "/x", dstest.SubPath("../../etc")))},
			want: []hm{{"spec.template.spec.containers[0].volumeMounts[0]", "/etc", true}},
		},
		"subPath climbing out of var run follows the symlink": {
			opts: []dstest.PodOpt{dstest.HostVolume("run", "/var/run"), dstest.Container("c", dstest.Mount("run", "/x", dstest.SubPath("../etc")))},
			want: []hm{{"spec.template.spec.containers[0].volumeMounts[0]", "/etc", true}},
		},
		"subPath onto relative volume path": {
			opts: []dstest.PodOpt{dstest.HostVolume("v", "var/run"), dstest.Container("c", dstest.Mount("v", "/x", dstest.SubPath("docker.sock")))},
			want: []hm{{"spec.template.spec.containers[0].volumeMounts[0]", "/run/docker.sock", true}},
		},
		"subPathExpr is the volume path": {
			opts: []dstest.PodOpt{dstest.HostVolume("logs", "/var/log"), dstest.Container("c", dstest.Mount("logs", "/x", dstest.SubPathExpr("$(POD_NAME)/../../../etc")))},
			want: []hm{{"spec.template.spec.containers[0].volumeMounts[0]", "/var/log", true}},
		},
		"subPathExpr wins over subPath": {
			opts: []dstest.PodOpt{dstest.HostVolume("root", "/"), dstest.Container("c", dstest.Mount("root", "/x", dstest.SubPath("tmp"), dstest.SubPathExpr("$(X)")))},
			want: []hm{{"spec.template.spec.containers[0].volumeMounts[0]", "/", true}},
		},
		"duplicate volume names yield every hostPath": {
			opts: []dstest.PodOpt{
				dstest.EmptyDirVolume("data"), dstest.HostVolume("data", "/etc"), dstest.HostVolume("data", "/var/log"),
				dstest.Container("c", dstest.Mount("data", "/data")),
			},
			want: []hm{
				{"spec.template.spec.containers[0].volumeMounts[0]", "/etc", true},
				{"spec.template.spec.containers[0].volumeMounts[0]", "/var/log", true},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := NewTarget(dstest.DaemonSet(tc.opts...)).HostMounts
			if len(got) != len(tc.want) {
				t.Fatalf("got %d host mounts, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := &got[i]
				if g.Field().String() != w.field || g.HostPath != w.hostPath || g.Writable != w.writable {
					t.Errorf("mount %d: got %s %q writable=%v, want %s %q writable=%v",
						i, g.Field(), g.HostPath, g.Writable, w.field, w.hostPath, w.writable)
				}
			}
		})
	}
}

func TestCapabilityName(t *testing.T) {
	cases := map[string]struct{ in, want string }{
		"plain":          {"SYS_ADMIN", "SYS_ADMIN"},
		"lower":          {"sys_admin", "SYS_ADMIN"},
		"cap prefix":     {"CAP_SYS_ADMIN", "SYS_ADMIN"},
		"lower prefix":   {"cap_sys_admin", "SYS_ADMIN"},
		"mixed case":     {"Cap_Sys_Admin", "SYS_ADMIN"},
		"spaces":         {"  SYS_ADMIN ", "SYS_ADMIN"},
		"all":            {"all", "ALL"},
		"cap all":        {"CAP_ALL", "ALL"},
		"other":          {"NET_ADMIN", "NET_ADMIN"},
		"only one strip": {"CAP_CAP_SYS_ADMIN", "CAP_SYS_ADMIN"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := capabilityName(tc.in); got != tc.want {
				t.Errorf("capabilityName(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// FuzzCleanHostPath: a cleaned path is absolute, clean, never spelled with
// /var/run, and cleaning it again changes nothing; a sensitive path the
// input names lexically is still related to what cleaning produced.
func FuzzCleanHostPath(f *testing.F) {
	for _, s := range []string{"", "/", "//etc/", "/var/run/../etc", "var/run", "/a/./b/../../..", "/var/run/x/../../run/docker.sock", "/proc/1/root/var/run"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c := CleanHostPath(p)
		// What a /proc link leads to is a clean path that leads nowhere further.
		if v := viaProc(c); v != "" && (CleanHostPath(v) != v || viaProc(v) != "") {
			t.Fatalf("viaProc(%q) = %q", c, v)
		}
		if !strings.HasPrefix(c, "/") || path.Clean(c) != c {
			t.Fatalf("CleanHostPath(%q) = %q: not absolute and clean", p, c)
		}
		if c == "/var/run" || strings.HasPrefix(c, "/var/run/") {
			t.Fatalf("CleanHostPath(%q) = %q: spelled with /var/run", p, c)
		}
		if again := CleanHostPath(c); again != c {
			t.Fatalf("CleanHostPath(%q) = %q, then %q", p, c, again)
		}
		// Without "..", cleaning is path.Clean plus the /var/run spelling.
		if !strings.Contains(p, "..") {
			want := path.Clean("/" + p)
			if want == "/var/run" || strings.HasPrefix(want, "/var/run/") {
				want = "/run" + strings.TrimPrefix(want, "/var/run")
			}
			if c != want {
				t.Fatalf("CleanHostPath(%q) = %q, want %q", p, c, want)
			}
		}
	})
}
