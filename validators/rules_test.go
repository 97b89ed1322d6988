package validators

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Field paths used throughout.
const (
	c0  = "spec.template.spec.containers[0]"
	c1  = "spec.template.spec.containers[1]"
	i0  = "spec.template.spec.initContainers[0]"
	e0  = "spec.template.spec.ephemeralContainers[0]"
	tol = "spec.template.spec.tolerations"
)

const (
	ruleHostPIDWritable = "hostpid-writable-hostpath"
	ruleHostPIDPriv     = "hostpid-privileged"
	ruleSensitive       = "writable-sensitive-hostpath"
	ruleSocket          = "container-runtime-socket"
	ruleBidirectional   = "bidirectional-mount-propagation"
	rulePrivileged      = "privileged-container"
	ruleToleration      = "ineffective-toleration"
)

func TestHostPIDWritableHostPath(t *testing.T) {
	cases := map[string]struct {
		ds   []podOpt
		want []expect
	}{
		"writable host log mount with hostPID": {
			ds: []podOpt{hostPID, hostVolume("logs", "/var/log"), container("agent", mount("logs", "/host/log"))},
			want: []expect{{ruleHostPIDWritable, c0 + ".volumeMounts[0]", []string{
				`hostPID is true and container "agent" mounts host path "/var/log" (volume "logs") at "/host/log" writable; set readOnly: true on this mount or drop hostPID`,
			}}},
		},
		"read-only host mounts with hostPID": {
			ds: []podOpt{hostPID, hostVolume("logs", "/var/log"), hostVolume("proc", "/proc"),
				container("agent", mount("logs", "/host/log", readOnly), mount("proc", "/host/proc", readOnly))},
		},
		"writable host mount without hostPID": {
			ds: []podOpt{hostVolume("logs", "/var/log"), container("agent", mount("logs", "/host/log"))},
		},
		"writable emptyDir with hostPID": {
			ds: []podOpt{hostPID, emptyDirVolume("scratch"), container("agent", mount("scratch", "/scratch"))},
		},
		"writable mount in an init container": {
			ds: []podOpt{hostPID, hostVolume("logs", "/var/log"), hostVolume("data", "/data"),
				initContainer("setup", mount("logs", "/l", readOnly), mount("data", "/d")),
				container("agent", mount("data", "/d", readOnly))},
			want: []expect{{ruleHostPIDWritable, i0 + ".volumeMounts[1]", []string{`container "setup"`, `"/data"`}}},
		},
		"writable mount in an ephemeral container": {
			ds: []podOpt{hostPID, hostVolume("data", "/data"), container("agent"),
				ephemeralContainer("debug", mount("data", "/d"))},
			want: []expect{{ruleHostPIDWritable, e0 + ".volumeMounts[0]", []string{`container "debug"`}}},
		},
		"volume mounted twice in one container, second writable": {
			ds: []podOpt{hostPID, hostVolume("data", "/data"),
				container("agent", mount("data", "/ro", readOnly), mount("data", "/rw"))},
			want: []expect{{ruleHostPIDWritable, c0 + ".volumeMounts[1]", []string{`at "/rw"`}}},
		},
		"volume mounted read-only in one container and writable in another": {
			ds: []podOpt{hostPID, hostVolume("data", "/data"),
				container("reader", mount("data", "/d", readOnly)), container("writer", mount("data", "/d"))},
			want: []expect{{ruleHostPIDWritable, c1 + ".volumeMounts[0]", []string{`container "writer"`}}},
		},
		"writable subPath is reported with the joined path": {
			ds:   []podOpt{hostPID, hostVolume("logs", "/var/log"), container("agent", mount("logs", "/x", subPath("pods")))},
			want: []expect{{ruleHostPIDWritable, c0 + ".volumeMounts[0]", []string{`host path "/var/log/pods"`}}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assertFindings(t, onlyRule(runRules(daemonSet(tc.ds...), Options{}), ruleHostPIDWritable), tc.want)
		})
	}
}

func TestHostPIDPrivileged(t *testing.T) {
	cases := map[string]struct {
		ds   []podOpt
		want []expect
	}{
		"privileged with hostPID": {
			ds: []podOpt{hostPID, container("agent", privileged(true))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.privileged", []string{
				`hostPID is true and container "agent" is privileged`, "drop hostPID",
			}}},
		},
		"privileged: false with hostPID": {
			ds: []podOpt{hostPID, container("agent", privileged(false), addCaps("SYS_PTRACE"))},
		},
		"no security context with hostPID": {
			ds: []podOpt{hostPID, container("agent")},
		},
		"SYS_ADMIN": {
			ds:   []podOpt{hostPID, container("agent", addCaps("SYS_ADMIN"))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[0]", []string{"adds capability SYS_ADMIN"}}},
		},
		"sys_admin lower case": {
			ds:   []podOpt{hostPID, container("agent", addCaps("NET_ADMIN", "sys_admin"))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[1]", []string{"adds capability SYS_ADMIN"}}},
		},
		"CAP_SYS_ADMIN": {
			ds:   []podOpt{hostPID, container("agent", addCaps("SYS_PTRACE", "NET_RAW", "CAP_SYS_ADMIN"))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[2]", []string{"adds capability SYS_ADMIN"}}},
		},
		"all lower case": {
			ds:   []podOpt{hostPID, container("agent", addCaps("all"))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[0]", []string{"adds capability ALL"}}},
		},
		"CAP_ALL": {
			ds:   []podOpt{hostPID, container("agent", addCaps("CAP_ALL"))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[0]", []string{"adds capability ALL"}}},
		},
		"padded capability": {
			ds:   []podOpt{hostPID, container("agent", addCaps(" SYS_ADMIN "))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[0]", []string{"adds capability SYS_ADMIN"}}},
		},
		"privileged and SYS_ADMIN both reported": {
			ds: []podOpt{hostPID, container("agent", privileged(true), addCaps("SYS_ADMIN", "ALL"))},
			want: []expect{
				{ruleHostPIDPriv, c0 + ".securityContext.privileged", []string{"is privileged"}},
				{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[0]", []string{"SYS_ADMIN"}},
				{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[1]", []string{"ALL"}},
			},
		},
		"dropping SYS_ADMIN is fine": {
			ds: []podOpt{hostPID, container("agent", dropCaps("SYS_ADMIN", "ALL"))},
		},
		"similar names are not SYS_ADMIN": {
			ds: []podOpt{hostPID, container("agent", addCaps("SYS_ADMINISTRATOR", "SYS_PTRACE", "NET_ADMIN", "ALLX"))},
		},
		"SYS_ADMIN without hostPID": {
			ds: []podOpt{container("agent", addCaps("SYS_ADMIN"))},
		},
		"privileged init container": {
			ds:   []podOpt{hostPID, container("agent"), initContainer("setup", privileged(true))},
			want: []expect{{ruleHostPIDPriv, i0 + ".securityContext.privileged", []string{`container "setup" is privileged`}}},
		},
		"ephemeral container with SYS_ADMIN": {
			ds:   []podOpt{hostPID, container("agent"), ephemeralContainer("debug", addCaps("sys_admin"))},
			want: []expect{{ruleHostPIDPriv, e0 + ".securityContext.capabilities.add[0]", []string{`container "debug" adds capability SYS_ADMIN`}}},
		},
		"second container privileged": {
			ds:   []podOpt{hostPID, container("ok"), container("bad", privileged(true))},
			want: []expect{{ruleHostPIDPriv, c1 + ".securityContext.privileged", []string{`container "bad"`}}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := runRules(daemonSet(tc.ds...), Options{})
			assertFindings(t, onlyRule(got, ruleHostPIDPriv), tc.want)
			if spec := daemonSet(tc.ds...).Spec.Template.Spec; spec.HostPID {
				// With hostPID, privileged-container stays quiet: the
				// stronger rule applies.
				assertFindings(t, onlyRule(got, rulePrivileged), nil)
			}
		})
	}
}

func TestWritableSensitiveHostPath(t *testing.T) {
	type want struct {
		field    string // defaults to containers[0].volumeMounts[0]
		hostPath string // cleaned path in the message
		relation string // "which is the", "which contains the", "which is inside the"
		path     string // the sensitive path named
	}
	cases := map[string]struct {
		ds   []podOpt
		opts Options
		want []want
	}{
		"root writable": {
			ds:   mountOf("/", false),
			want: []want{{hostPath: "/", relation: "which is the", path: "/"}},
		},
		"root read-only": {
			ds: mountOf("/", true),
		},
		"etc": {
			ds:   mountOf("/etc", false),
			want: []want{{hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"etc read-only": {
			ds: mountOf("/etc", true),
		},
		"double slash etc trailing slash": {
			ds:   mountOf("//etc/", false),
			want: []want{{hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"relative etc": {
			ds:   mountOf("etc", false),
			want: []want{{hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"cni config is under etc": {
			ds:   mountOf("/etc/cni/net.d", false),
			want: []want{{hostPath: "/etc/cni/net.d", relation: "which is inside the", path: "/etc"}},
		},
		"etc kubernetes pki reports etc first": {
			ds:   mountOf("/etc/kubernetes/pki", false),
			want: []want{{hostPath: "/etc/kubernetes/pki", relation: "which is inside the", path: "/etc"}},
		},
		"var contains kubelet state": {
			ds:   mountOf("/var", false),
			want: []want{{hostPath: "/var", relation: "which contains the", path: "/var/lib/kubelet"}},
		},
		"var lib contains kubelet state": {
			ds:   mountOf("/var/lib", false),
			want: []want{{hostPath: "/var/lib", relation: "which contains the", path: "/var/lib/kubelet"}},
		},
		"kubelet pods are inside kubelet state": {
			ds:   mountOf("/var/lib/kubelet/pods", false),
			want: []want{{hostPath: "/var/lib/kubelet/pods", relation: "which is inside the", path: "/var/lib/kubelet"}},
		},
		"etcd data": {
			ds:   mountOf("/var/lib/etcd/", false),
			want: []want{{hostPath: "/var/lib/etcd", relation: "which is the", path: "/var/lib/etcd"}},
		},
		"containerd state": {
			ds:   mountOf("/var/lib/containerd", false),
			want: []want{{hostPath: "/var/lib/containerd", relation: "which is the", path: "/var/lib/containerd"}},
		},
		"docker containers dir": {
			ds:   mountOf("/var/lib/docker/containers", false),
			want: []want{{hostPath: "/var/lib/docker/containers", relation: "which is inside the", path: "/var/lib/docker"}},
		},
		"docker containers dir read-only (fluentbit)": {
			ds: mountOf("/var/lib/docker/containers", true),
		},
		"var log is fine": {
			ds: mountOf("/var/log", false),
		},
		"var lib kubelet sibling prefix is fine": {
			ds: mountOf("/var/lib/kubelet-plugins-data", false),
		},
		"etcd sibling prefix is fine": {
			ds: mountOf("/etcd", false),
		},
		"opt cni bin": {
			ds:   mountOf("/opt/cni/bin", false),
			want: []want{{hostPath: "/opt/cni/bin", relation: "which is the", path: "/opt/cni/bin"}},
		},
		"opt cni is fine": {
			ds: mountOf("/opt/cni/cache", false),
		},
		"usr local bin": {
			ds:   mountOf("/usr/local/bin", false),
			want: []want{{hostPath: "/usr/local/bin", relation: "which is inside the", path: "/usr"}},
		},
		"proc sys": {
			ds:   mountOf("/proc/sys", false),
			want: []want{{hostPath: "/proc/sys", relation: "which is inside the", path: "/proc"}},
		},
		"sys fs cgroup": {
			ds:   mountOf("/sys/fs/cgroup", false),
			want: []want{{hostPath: "/sys/fs/cgroup", relation: "which is inside the", path: "/sys"}},
		},
		"dev": {
			ds:   mountOf("/dev", false),
			want: []want{{hostPath: "/dev", relation: "which is the", path: "/dev"}},
		},
		"root home": {
			ds:   mountOf("/root/.ssh", false),
			want: []want{{hostPath: "/root/.ssh", relation: "which is inside the", path: "/root"}},
		},
		"boot": {
			ds:   mountOf("/boot", false),
			want: []want{{hostPath: "/boot", relation: "which is the", path: "/boot"}},
		},
		"lib64": {
			ds:   mountOf("/lib64", false),
			want: []want{{hostPath: "/lib64", relation: "which is the", path: "/lib64"}},
		},
		"sbin": {
			ds:   mountOf("/sbin/", false),
			want: []want{{hostPath: "/sbin", relation: "which is the", path: "/sbin"}},
		},
		"bin": {
			ds:   mountOf("/bin", false),
			want: []want{{hostPath: "/bin", relation: "which is the", path: "/bin"}},
		},
		"dotdot back into etc": {
			ds:   mountOf("/var/log/../../etc", false),
			want: []want{{hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"var run parent is root": {
			ds:   mountOf("/var/run/../etc", false),
			want: []want{{hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"subPath joined onto volume path": {
			ds:   []podOpt{hostVolume("var", "/var/lib"), container("agent", mount("var", "/k", subPath("kubelet")))},
			want: []want{{hostPath: "/var/lib/kubelet", relation: "which is the", path: "/var/lib/kubelet"}},
		},
		"subPath climbing out of var log": {
			ds:   []podOpt{hostVolume("logs", "/var/log"), container("agent", mount("logs", "/x", subPath("../../etc")))},
			want: []want{{hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"harmless subPath": {
			ds: []podOpt{hostVolume("logs", "/var/log"), container("agent", mount("logs", "/x", subPath("pods")))},
		},
		"subPathExpr on etc is etc": {
			ds:   []podOpt{hostVolume("etc", "/etc"), container("agent", mount("etc", "/x", subPathExpr("$(POD_NAME)")))},
			want: []want{{hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"subPathExpr on var log is var log": {
			ds: []podOpt{hostVolume("logs", "/var/log"), container("agent", mount("logs", "/x", subPathExpr("$(POD_NAME)")))},
		},
		"read-only subPath into etc": {
			ds: []podOpt{hostVolume("logs", "/var/log"), container("agent", mount("logs", "/x", readOnly, subPath("../../etc")))},
		},
		"cni init container": {
			ds: []podOpt{hostVolume("cni-bin", "/opt/cni/bin"), hostVolume("cni-conf", "/etc/cni/net.d"),
				initContainer("install-cni", mount("cni-bin", "/host/opt/cni/bin"), mount("cni-conf", "/host/etc/cni/net.d")),
				container("cni-agent", mount("cni-conf", "/host/etc/cni/net.d", readOnly))},
			want: []want{
				{field: i0 + ".volumeMounts[0]", hostPath: "/opt/cni/bin", relation: "which is the", path: "/opt/cni/bin"},
				{field: i0 + ".volumeMounts[1]", hostPath: "/etc/cni/net.d", relation: "which is inside the", path: "/etc"},
			},
		},
		"ephemeral container": {
			ds:   []podOpt{hostVolume("etc", "/etc"), container("agent"), ephemeralContainer("debug", mount("etc", "/e"))},
			want: []want{{field: e0 + ".volumeMounts[0]", hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"mounted read-only and writable": {
			ds: []podOpt{hostVolume("etc", "/etc"),
				container("a", mount("etc", "/ro", readOnly)), container("b", mount("etc", "/rw", readOnly), mount("etc", "/rw2"))},
			want: []want{{field: c1 + ".volumeMounts[1]", hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"duplicate volume name hides nothing": {
			ds:   []podOpt{emptyDirVolume("data"), hostVolume("data", "/etc"), container("agent", mount("data", "/d"))},
			want: []want{{hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"custom list replaces the default": {
			ds:   []podOpt{hostVolume("a", "/data/db"), hostVolume("b", "/etc"), container("agent", mount("a", "/a"), mount("b", "/b"))},
			opts: Options{SensitiveHostPaths: []string{"/data/"}},
			want: []want{{hostPath: "/data/db", relation: "which is inside the", path: "/data"}},
		},
		"custom list entries are cleaned, var run is run": {
			ds:   mountOf("/run/secrets", false),
			opts: Options{SensitiveHostPaths: []string{"/var/run/secrets"}},
			want: []want{{hostPath: "/run/secrets", relation: "which is the", path: "/run/secrets"}},
		},
		"custom path under run is reached through var": {
			ds:   mountOf("/var", false),
			opts: Options{SensitiveHostPaths: []string{"/run/secrets"}},
			want: []want{{hostPath: "/var", relation: "which contains the", path: "/var/run/secrets"}},
		},
		"custom run is reached through var": {
			ds:   mountOf("/var/", false),
			opts: Options{SensitiveHostPaths: []string{"/var/run"}},
			want: []want{{hostPath: "/var", relation: "which contains the", path: "/var/run"}},
		},
		"custom path under run, spelled var run": {
			ds:   mountOf("/var/run/secrets/kubernetes.io", false),
			opts: Options{SensitiveHostPaths: []string{"/run/secrets"}},
			want: []want{{hostPath: "/run/secrets/kubernetes.io", relation: "which is inside the", path: "/run/secrets"}},
		},
		"through init's root, proc not listed": {
			ds:   mountOf("/proc/1/root/data/db", false),
			opts: Options{SensitiveHostPaths: []string{"/data"}},
			want: []want{{hostPath: "/proc/1/root/data/db", relation: "which is inside the", path: "/data"}},
		},
		"through init's root is the root": {
			ds:   mountOf("/proc/1/root", false),
			want: []want{{hostPath: "/proc/1/root", relation: "which is the", path: "/"}},
		},
		"custom path under run, var log is fine": {
			ds:   mountOf("/var/log", false),
			opts: Options{SensitiveHostPaths: []string{"/run/secrets"}},
		},
		"empty custom list flags nothing": {
			ds:   mountOf("/etc", false),
			opts: Options{SensitiveHostPaths: []string{}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var want []expect
			for _, w := range tc.want {
				f := w.field
				if f == "" {
					f = c0 + ".volumeMounts[0]"
				}
				want = append(want, expect{ruleSensitive, f, []string{
					`mounts host path "` + w.hostPath + `"`,
					" writable, " + w.relation + ` sensitive host path "` + w.path + `"; set readOnly: true`,
				}})
			}
			assertFindings(t, onlyRule(runRules(daemonSet(tc.ds...), tc.opts), ruleSensitive), want)
		})
	}
}

func TestContainerRuntimeSocket(t *testing.T) {
	type want struct {
		field    string
		hostPath string
		relation string
		socket   string
	}
	cases := map[string]struct {
		ds   []podOpt
		opts Options
		want []want
	}{
		"docker socket read-only": {
			ds:   mountOf("/var/run/docker.sock", true),
			want: []want{{hostPath: "/run/docker.sock", relation: "which is the", socket: "/run/docker.sock"}},
		},
		"docker socket via run": {
			ds:   mountOf("/run/docker.sock", true),
			want: []want{{hostPath: "/run/docker.sock", relation: "which is the", socket: "/run/docker.sock"}},
		},
		"docker socket dotdot": {
			ds:   mountOf("/var/run/../run/docker.sock", true),
			want: []want{{hostPath: "/run/docker.sock", relation: "which is the", socket: "/run/docker.sock"}},
		},
		"docker socket slashes": {
			ds:   mountOf("//var//run/docker.sock/", true),
			want: []want{{hostPath: "/run/docker.sock", relation: "which is the", socket: "/run/docker.sock"}},
		},
		"dockershim": {
			ds:   mountOf("/var/run/dockershim.sock", true),
			want: []want{{hostPath: "/run/dockershim.sock", relation: "which is the", socket: "/run/dockershim.sock"}},
		},
		"containerd socket": {
			ds:   mountOf("/run/containerd/containerd.sock", true),
			want: []want{{hostPath: "/run/containerd/containerd.sock", relation: "which is inside the", socket: "/run/containerd"}},
		},
		"containerd directory": {
			ds:   mountOf("/run/containerd", true),
			want: []want{{hostPath: "/run/containerd", relation: "which is the", socket: "/run/containerd"}},
		},
		"containerd directory via var run": {
			ds:   mountOf("/var/run/containerd/", true),
			want: []want{{hostPath: "/run/containerd", relation: "which is the", socket: "/run/containerd"}},
		},
		"crio directory": {
			ds:   mountOf("/var/run/crio", true),
			want: []want{{hostPath: "/run/crio", relation: "which is the", socket: "/run/crio"}},
		},
		"cri-dockerd": {
			ds:   mountOf("/run/cri-dockerd.sock", true),
			want: []want{{hostPath: "/run/cri-dockerd.sock", relation: "which is the", socket: "/run/cri-dockerd.sock"}},
		},
		"k3s containerd": {
			ds:   mountOf("/run/k3s/containerd/containerd.sock", true),
			want: []want{{hostPath: "/run/k3s/containerd/containerd.sock", relation: "which is inside the", socket: "/run/k3s/containerd"}},
		},
		"k3s directory": {
			ds:   mountOf("/run/k3s", true),
			want: []want{{hostPath: "/run/k3s", relation: "which contains the", socket: "/run/k3s/containerd"}},
		},
		"run": {
			ds:   mountOf("/run", true),
			want: []want{{hostPath: "/run", relation: "which contains the", socket: "/run/docker.sock"}},
		},
		"var run": {
			ds:   mountOf("/var/run", true),
			want: []want{{hostPath: "/run", relation: "which contains the", socket: "/run/docker.sock"}},
		},
		"var": {
			ds:   mountOf("/var", true),
			want: []want{{hostPath: "/var", relation: "which contains the", socket: "/var/run/docker.sock"}},
		},
		"writable socket is still one finding": {
			ds:   mountOf("/var/run/docker.sock", false),
			want: []want{{hostPath: "/run/docker.sock", relation: "which is the", socket: "/run/docker.sock"}},
		},
		"root read-only is left to the sensitive-path rule": {
			ds: mountOf("/", true),
		},
		"root writable is left to the sensitive-path rule": {
			ds: mountOf("/", false),
		},
		"unrelated run directory": {
			ds: mountOf("/run/udev", true),
		},
		"socket name prefix is not the socket": {
			ds: mountOf("/run/containerd-other", true),
		},
		"var log": {
			ds: mountOf("/var/log", true),
		},
		"var lib docker is not a socket": {
			ds: mountOf("/var/lib/docker", true),
		},
		"subPath onto var run": {
			ds:   []podOpt{hostVolume("run", "/var/run"), container("agent", mount("run", "/d.sock", readOnly, subPath("docker.sock")))},
			want: []want{{hostPath: "/run/docker.sock", relation: "which is the", socket: "/run/docker.sock"}},
		},
		"subPath climbing into run": {
			ds:   []podOpt{hostVolume("logs", "/var/log"), container("agent", mount("logs", "/d.sock", readOnly, subPath("../run/docker.sock")))},
			want: []want{{hostPath: "/run/docker.sock", relation: "which is the", socket: "/run/docker.sock"}},
		},
		"harmless subPath into run": {
			ds: []podOpt{hostVolume("run", "/run"), container("agent", mount("run", "/u", readOnly, subPath("udev")))},
		},
		"subPathExpr on var run is var run": {
			ds:   []podOpt{hostVolume("run", "/var/run"), container("agent", mount("run", "/u", readOnly, subPathExpr("$(POD_NAME)")))},
			want: []want{{hostPath: "/run", relation: "which contains the", socket: "/run/docker.sock"}},
		},
		"through init's root": {
			ds:   mountOf("/proc/1/root/run/containerd/containerd.sock", true),
			want: []want{{hostPath: "/proc/1/root/run/containerd/containerd.sock", relation: "which is inside the", socket: "/run/containerd"}},
		},
		"through the runtime's working directory": {
			ds:   mountOf("/proc/self/cwd/var/run", true),
			want: []want{{hostPath: "/proc/self/cwd/var/run", relation: "which contains the", socket: "/run/docker.sock"}},
		},
		"init's root is the read-only root": {
			ds: mountOf("/proc/1/root", true),
		},
		"init container": {
			ds: []podOpt{hostVolume("sock", "/run/containerd/containerd.sock"), container("agent"),
				initContainer("probe", mount("sock", "/c.sock", readOnly))},
			want: []want{{field: i0 + ".volumeMounts[0]", hostPath: "/run/containerd/containerd.sock", relation: "which is inside the", socket: "/run/containerd"}},
		},
		"custom socket list replaces the default": {
			ds: []podOpt{hostVolume("a", "/var/run/docker.sock"), hostVolume("b", "/var"),
				container("agent", mount("a", "/a", readOnly), mount("b", "/b", readOnly))},
			opts: Options{RuntimeSockets: []string{"/var/run/podman/podman.sock"}},
			want: []want{{field: c0 + ".volumeMounts[1]", hostPath: "/var", relation: "which contains the", socket: "/var/run/podman/podman.sock"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var want []expect
			for _, w := range tc.want {
				f := w.field
				if f == "" {
					f = c0 + ".volumeMounts[0]"
				}
				want = append(want, expect{ruleSocket, f, []string{
					`mounts host path "` + w.hostPath + `"`,
					", " + w.relation + " " + socketKind(w.socket) + ` "` + w.socket + `"; `,
					"even through a read-only mount",
				}})
			}
			assertFindings(t, onlyRule(runRules(daemonSet(tc.ds...), tc.opts), ruleSocket), want)
		})
	}
}

func TestBidirectionalMountPropagation(t *testing.T) {
	cases := map[string]struct {
		ds   []podOpt
		want []expect
	}{
		"bidirectional host mount": {
			ds: []podOpt{hostVolume("mnt", "/mnt/data"), container("agent", mount("mnt", "/mnt", propagation(corev1.MountPropagationBidirectional)))},
			want: []expect{{ruleBidirectional, c0 + ".volumeMounts[0].mountPropagation", []string{
				`container "agent" mounts host path "/mnt/data" (volume "mnt") at "/mnt" with Bidirectional propagation`, "use HostToContainer",
			}}},
		},
		"bidirectional read-only host mount": {
			ds:   []podOpt{hostVolume("mnt", "/mnt/data"), container("agent", mount("mnt", "/mnt", readOnly, propagation(corev1.MountPropagationBidirectional)))},
			want: []expect{{ruleBidirectional, c0 + ".volumeMounts[0].mountPropagation", nil}},
		},
		"bidirectional in init container": {
			ds: []podOpt{hostVolume("mnt", "/mnt/data"), container("agent"),
				initContainer("setup", mount("mnt", "/a", readOnly), mount("mnt", "/mnt", propagation(corev1.MountPropagationBidirectional)))},
			want: []expect{{ruleBidirectional, i0 + ".volumeMounts[1].mountPropagation", []string{`container "setup"`}}},
		},
		"host to container": {
			ds: []podOpt{hostVolume("mnt", "/mnt/data"), container("agent", mount("mnt", "/mnt", propagation(corev1.MountPropagationHostToContainer)))},
		},
		"none": {
			ds: []podOpt{hostVolume("mnt", "/mnt/data"), container("agent", mount("mnt", "/mnt", propagation(corev1.MountPropagationNone)))},
		},
		"bidirectional emptyDir is not a host mount": {
			ds: []podOpt{emptyDirVolume("s"), container("agent", mount("s", "/s", propagation(corev1.MountPropagationBidirectional)))},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assertFindings(t, onlyRule(runRules(daemonSet(tc.ds...), Options{}), ruleBidirectional), tc.want)
		})
	}
}

func TestPrivilegedContainer(t *testing.T) {
	cases := map[string]struct {
		ds   []podOpt
		want []expect
	}{
		"privileged": {
			ds: []podOpt{container("agent", privileged(true))},
			want: []expect{{rulePrivileged, c0 + ".securityContext.privileged", []string{
				`container "agent" is privileged: it has every capability and every host device`,
			}}},
		},
		"privileged init container": {
			ds:   []podOpt{container("agent"), initContainer("setup", privileged(true))},
			want: []expect{{rulePrivileged, i0 + ".securityContext.privileged", []string{`container "setup"`}}},
		},
		"privileged ephemeral container": {
			ds:   []podOpt{container("agent"), ephemeralContainer("debug", privileged(true))},
			want: []expect{{rulePrivileged, e0 + ".securityContext.privileged", []string{`container "debug"`}}},
		},
		"two privileged containers": {
			ds: []podOpt{container("a", privileged(true)), container("b", privileged(true))},
			want: []expect{
				{rulePrivileged, c0 + ".securityContext.privileged", []string{`container "a"`}},
				{rulePrivileged, c1 + ".securityContext.privileged", []string{`container "b"`}},
			},
		},
		"privileged false": {
			ds: []podOpt{container("agent", privileged(false))},
		},
		"SYS_ADMIN is privileged in all but name": {
			ds:   []podOpt{container("agent", addCaps("NET_ADMIN", "cap_sys_admin"))},
			want: []expect{{rulePrivileged, c0 + ".securityContext.capabilities.add[1]", []string{`container "agent" adds capability SYS_ADMIN`}}},
		},
		"narrow capabilities only": {
			ds: []podOpt{container("agent", addCaps("NET_ADMIN", "SYS_PTRACE"))},
		},
		"with hostPID the hostPID rule applies instead": {
			ds: []podOpt{hostPID, container("agent", privileged(true))},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assertFindings(t, onlyRule(runRules(daemonSet(tc.ds...), Options{}), rulePrivileged), tc.want)
		})
	}
}

func TestIneffectiveToleration(t *testing.T) {
	exists, equal := corev1.TolerationOpExists, corev1.TolerationOpEqual
	noExec, noSched := corev1.TaintEffectNoExecute, corev1.TaintEffectNoSchedule
	cases := map[string]struct {
		tols []corev1.Toleration
		want []expect
	}{
		"seed tolerations": {
			tols: []corev1.Toleration{
				{Key: "node-role.kubernetes.io/control-plane", Operator: exists, Effect: noSched},
				{Key: "dedicated", Operator: equal, Value: "monitoring", Effect: noSched},
				{Key: "node.kubernetes.io/not-ready", Operator: exists, Effect: noExec, TolerationSeconds: seconds(300)},
				{Key: "node.kubernetes.io/unreachable", Operator: exists, Effect: noExec, TolerationSeconds: seconds(300)},
			},
			want: []expect{
				{ruleToleration, tol + "[2].tolerationSeconds", []string{"tolerationSeconds: 300 is ignored for node.kubernetes.io/not-ready", "never leave a failed node"}},
				{ruleToleration, tol + "[3].tolerationSeconds", []string{"tolerationSeconds: 300 is ignored for node.kubernetes.io/unreachable"}},
			},
		},
		"not-ready without seconds": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: exists, Effect: noExec}},
		},
		"equal operator with seconds": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/unreachable", Operator: equal, Effect: noExec, TolerationSeconds: seconds(60)}},
			want: []expect{{ruleToleration, tol + "[0].tolerationSeconds", []string{"tolerationSeconds: 60 is ignored for node.kubernetes.io/unreachable"}}},
		},
		"empty effect with seconds": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: exists, TolerationSeconds: seconds(10)}},
			want: []expect{{ruleToleration, tol + "[0].tolerationSeconds", []string{"tolerationSeconds: 10 is ignored for node.kubernetes.io/not-ready"}}},
		},
		"empty key exists with seconds": {
			tols: []corev1.Toleration{{Operator: exists, Effect: noExec, TolerationSeconds: seconds(30)}},
			want: []expect{{ruleToleration, tol + "[0].tolerationSeconds", []string{"tolerationSeconds: 30 is ignored for node.kubernetes.io/not-ready"}}},
		},
		"zero seconds is still ignored": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: exists, Effect: noExec, TolerationSeconds: seconds(0)}},
			want: []expect{{ruleToleration, tol + "[0].tolerationSeconds", []string{"tolerationSeconds: 0 is ignored"}}},
		},
		"other key with seconds": {
			tols: []corev1.Toleration{{Key: "example.com/maintenance", Operator: exists, Effect: noExec, TolerationSeconds: seconds(300)}},
		},
		"no-schedule effect": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: exists, Effect: noSched, TolerationSeconds: seconds(300)}},
		},
		"empty key exists without seconds (node-exporter)": {
			tols: []corev1.Toleration{{Operator: exists}},
		},
		"pressure taints are NoSchedule, seconds do not apply": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/memory-pressure", Operator: exists, Effect: noExec, TolerationSeconds: seconds(5)}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assertFindings(t, onlyRule(runRules(daemonSet(tolerations(tc.tols...), container("agent")), Options{}), ruleToleration), tc.want)
		})
	}
}

// TestRulesTogether checks cases where several rules fire on one object, and
// that each finding is reported by exactly the rules expected.
func TestRulesTogether(t *testing.T) {
	cases := map[string]struct {
		ds   []podOpt
		want []expect
	}{
		"clean object": {
			ds: []podOpt{hostVolume("logs", "/var/log"), container("agent", mount("logs", "/l", readOnly))},
		},
		"hostPID writable etc": {
			ds: []podOpt{hostPID, hostVolume("etc", "/etc"), container("agent", mount("etc", "/e"))},
			want: []expect{
				{ruleHostPIDWritable, c0 + ".volumeMounts[0]", nil},
				{ruleSensitive, c0 + ".volumeMounts[0]", nil},
			},
		},
		"writable var hits two rules": {
			ds: []podOpt{hostVolume("var", "/var"), container("agent", mount("var", "/v"))},
			want: []expect{
				{ruleSensitive, c0 + ".volumeMounts[0]", []string{`contains the sensitive host path "/var/lib/kubelet"`}},
				{ruleSocket, c0 + ".volumeMounts[0]", []string{`contains the container runtime socket "/var/run/docker.sock"`}},
			},
		},
		"writable run with bidirectional propagation": {
			ds: []podOpt{hostVolume("run", "/run"), container("agent", mount("run", "/r", propagation(corev1.MountPropagationBidirectional)))},
			want: []expect{
				{ruleSocket, c0 + ".volumeMounts[0]", nil},
				{ruleBidirectional, c0 + ".volumeMounts[0].mountPropagation", nil},
			},
		},
		"everything at once": {
			ds: []podOpt{hostPID, hostVolume("root", "/"), hostVolume("sock", "/var/run/docker.sock"),
				tolerations(corev1.Toleration{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds(1)}),
				container("agent", privileged(true), mount("root", "/host", propagation(corev1.MountPropagationBidirectional)), mount("sock", "/d.sock", readOnly))},
			want: []expect{
				{ruleHostPIDWritable, c0 + ".volumeMounts[0]", nil},
				{ruleHostPIDPriv, c0 + ".securityContext.privileged", nil},
				{ruleSensitive, c0 + ".volumeMounts[0]", []string{`which is the sensitive host path "/"`}},
				{ruleSocket, c0 + ".volumeMounts[1]", nil},
				{ruleBidirectional, c0 + ".volumeMounts[0].mountPropagation", nil},
				{ruleToleration, tol + "[0].tolerationSeconds", nil},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assertFindings(t, runRules(daemonSet(tc.ds...), Options{}), tc.want)
		})
	}
}

// mountOf is a pod with one container mounting one host path.
func mountOf(path string, ro bool) []podOpt {
	var opts []mountOpt
	if ro {
		opts = append(opts, readOnly)
	}
	return []podOpt{hostVolume("host", path), container("agent", mount("host", "/host", opts...))}
}

func onlyRule(f []finding, rule string) []finding {
	var out []finding
	for _, x := range f {
		if x.Rule == rule {
			out = append(out, x)
		}
	}
	return out
}

// The runtime directories hold more than the main socket: containerd's shim
// sockets (a task API into every container) sit beside containerd.sock.
func TestRuntimeDirectoriesCoverShimSockets(t *testing.T) {
	for _, p := range []string{"/run/containerd/s", "/run/containerd/containerd.sock.ttrpc", "/var/run/docker/containerd/containerd.sock",
		"/run/podman/podman.sock", "/var/snap/microk8s/common/run/containerd.sock", "/run/crio/crio.sock"} {
		findings := onlyRule(runRules(daemonSet(mountOf(p, true)...), Options{}), ruleSocket)
		if len(findings) != 1 {
			t.Errorf("%s: %d container-runtime-socket findings, want 1", p, len(findings))
		}
	}
}

// Windows HostProcess pods and containers have full access to the node
// without ever saying privileged.
func TestWindowsHostProcessIsPrivileged(t *testing.T) {
	yes := true
	pod := daemonSet(container("agent"))
	pod.Spec.Template.Spec.SecurityContext = &corev1.PodSecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{HostProcess: &yes}}
	got := onlyRule(runRules(pod, Options{}), "privileged-container")
	if len(got) != 1 || got[0].Field != "spec.template.spec.securityContext.windowsOptions.hostProcess" {
		t.Fatalf("pod-level hostProcess: %+v", got)
	}
	c := daemonSet(container("agent"))
	c.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{HostProcess: &yes}}
	got = onlyRule(runRules(c, Options{}), "privileged-container")
	if len(got) != 1 || got[0].Field != "spec.template.spec.containers[0].securityContext.windowsOptions.hostProcess" ||
		!strings.Contains(got[0].Detail, `container "agent" is a Windows HostProcess container`) {
		t.Fatalf("container-level hostProcess: %+v", got)
	}
}
