package validators

import (
	"github.com/daemonguard/daemonguard/test/dstest"
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
	ruleControl         = "host-control-socket"
	ruleCred            = "credential-read"
	ruleCredAncestor    = "credential-ancestor-read"
	rulePodLogs         = "writable-pod-logs"
	ruleVarLog          = "writable-var-log"
	ruleNested          = "nested-hostpath"
	rulePtrace          = "hostpid-ptrace"
	rulePtraceUnconf    = "hostpid-ptrace-unconfined"
	ruleProcMount       = "unmasked-procmount"
	ruleUnknownWrite    = "unknown-writable-hostpath"
	ruleUnknownRead     = "unknown-hostpath-read"
	ruleUnknownSocket   = "unknown-socket"
	ruleHostPIDRoot     = "hostpid-as-root"
	ruleKernelCap       = "kernel-capability"
)

func TestHostPIDWritableHostPath(t *testing.T) {
	cases := map[string]struct {
		ds   []dstest.PodOpt
		want []expect
	}{
		"writable host log mount with hostPID": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.HostVolume("logs", "/var/log"), dstest.Container("agent", dstest.Mount("logs", "/host/log"))},
			want: []expect{{ruleHostPIDWritable, c0 + ".volumeMounts[0]", []string{
				`hostPID is true and container "agent" mounts host path "/var/log" (volume "logs") at "/host/log" writable: with every host process visible`, "set readOnly: true on this mount or drop hostPID",
			}}},
		},
		"read-only host mounts with hostPID": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.HostVolume("logs", "/var/log"), dstest.HostVolume("proc", "/proc"),
				dstest.Container("agent", dstest.Mount("logs", "/host/log", dstest.ReadOnly), dstest.Mount("proc", "/host/proc", dstest.ReadOnly))},
		},
		"writable host mount without hostPID": {
			ds: []dstest.PodOpt{dstest.HostVolume("logs", "/var/log"), dstest.Container("agent", dstest.Mount("logs", "/host/log"))},
		},
		"writable emptyDir with hostPID": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.EmptyDirVolume("scratch"), dstest.Container("agent", dstest.Mount("scratch", "/scratch"))},
		},
		"writable mount in an init container": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.HostVolume("logs", "/var/log"), dstest.HostVolume("data", "/data"),
				dstest.InitContainer("setup", dstest.Mount("logs", "/l", dstest.ReadOnly), dstest.Mount("data", "/d")),
				dstest.Container("agent", dstest.Mount("data", "/d", dstest.ReadOnly))},
			want: []expect{{ruleHostPIDWritable, i0 + ".volumeMounts[1]", []string{`container "setup"`, `"/data"`}}},
		},
		"writable mount in an ephemeral container": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.HostVolume("data", "/data"), dstest.Container("agent"),
				dstest.EphemeralContainer("debug", dstest.Mount("data", "/d"))},
			want: []expect{{ruleHostPIDWritable, e0 + ".volumeMounts[0]", []string{`container "debug"`}}},
		},
		"volume mounted twice in one container, second writable": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.HostVolume("data", "/data"),
				dstest.Container("agent", dstest.Mount("data", "/ro", dstest.ReadOnly), dstest.Mount("data", "/rw"))},
			want: []expect{{ruleHostPIDWritable, c0 + ".volumeMounts[1]", []string{`at "/rw"`}}},
		},
		"volume mounted read-only in one container and writable in another": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.HostVolume("data", "/data"),
				dstest.Container("reader", dstest.Mount("data", "/d", dstest.ReadOnly)), dstest.Container("writer", dstest.Mount("data", "/d"))},
			want: []expect{{ruleHostPIDWritable, c1 + ".volumeMounts[0]", []string{`container "writer"`}}},
		},
		"writable subPath is reported with the joined path": {
			ds:   []dstest.PodOpt{dstest.HostPID, dstest.HostVolume("logs", "/var/log"), dstest.Container("agent", dstest.Mount("logs", "/x", dstest.SubPath("pods")))},
			want: []expect{{ruleHostPIDWritable, c0 + ".volumeMounts[0]", []string{`host path "/var/log/pods"`}}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assertFindings(t, onlyRule(runRules(dstest.DaemonSet(tc.ds...), Options{}), ruleHostPIDWritable), tc.want)
		})
	}
}

func TestHostPIDPrivileged(t *testing.T) {
	cases := map[string]struct {
		ds   []dstest.PodOpt
		want []expect
	}{
		"privileged with hostPID": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.Privileged(true))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.privileged", []string{
				`hostPID is true and container "agent" is privileged`, "drop hostPID",
			}}},
		},
		"privileged: false with hostPID": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.Privileged(false), dstest.AddCaps("SYS_PTRACE"))},
		},
		"no security context with hostPID": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent")},
		},
		"SYS_ADMIN": {
			ds:   []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.AddCaps("SYS_ADMIN"))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[0]", []string{"adds capability SYS_ADMIN"}}},
		},
		"sys_admin lower case": {
			ds:   []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.AddCaps("NET_ADMIN", "sys_admin"))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[1]", []string{"adds capability SYS_ADMIN"}}},
		},
		"CAP_SYS_ADMIN": {
			ds:   []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.AddCaps("SYS_PTRACE", "NET_RAW", "CAP_SYS_ADMIN"))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[2]", []string{"adds capability SYS_ADMIN"}}},
		},
		"all lower case": {
			ds:   []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.AddCaps("all"))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[0]", []string{"adds capability ALL"}}},
		},
		"CAP_ALL": {
			ds:   []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.AddCaps("CAP_ALL"))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[0]", []string{"adds capability ALL"}}},
		},
		"padded capability": {
			ds:   []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.AddCaps(" SYS_ADMIN "))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[0]", []string{"adds capability SYS_ADMIN"}}},
		},
		"privileged and SYS_ADMIN both reported": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.Privileged(true), dstest.AddCaps("SYS_ADMIN", "ALL"))},
			want: []expect{
				{ruleHostPIDPriv, c0 + ".securityContext.privileged", []string{"is privileged"}},
				{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[0]", []string{"SYS_ADMIN"}},
				{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[1]", []string{"ALL"}},
			},
		},
		"dropping SYS_ADMIN is fine": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.DropCaps("SYS_ADMIN", "ALL"))},
		},
		"similar names are not SYS_ADMIN": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.AddCaps("SYS_ADMINISTRATOR", "SYS_PTRACE", "NET_ADMIN", "ALLX"))},
		},
		"SYS_ADMIN without hostPID": {
			ds: []dstest.PodOpt{dstest.Container("agent", dstest.AddCaps("SYS_ADMIN"))},
		},
		"privileged init container": {
			ds:   []dstest.PodOpt{dstest.HostPID, dstest.Container("agent"), dstest.InitContainer("setup", dstest.Privileged(true))},
			want: []expect{{ruleHostPIDPriv, i0 + ".securityContext.privileged", []string{`container "setup" is privileged`}}},
		},
		"ephemeral container with SYS_ADMIN": {
			ds:   []dstest.PodOpt{dstest.HostPID, dstest.Container("agent"), dstest.EphemeralContainer("debug", dstest.AddCaps("sys_admin"))},
			want: []expect{{ruleHostPIDPriv, e0 + ".securityContext.capabilities.add[0]", []string{`container "debug" adds capability SYS_ADMIN`}}},
		},
		"second container privileged": {
			ds:   []dstest.PodOpt{dstest.HostPID, dstest.Container("ok"), dstest.Container("bad", dstest.Privileged(true))},
			want: []expect{{ruleHostPIDPriv, c1 + ".securityContext.privileged", []string{`container "bad"`}}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := runRules(dstest.DaemonSet(tc.ds...), Options{})
			assertFindings(t, onlyRule(got, ruleHostPIDPriv), tc.want)
			if spec := dstest.DaemonSet(tc.ds...).Spec.Template.Spec; spec.HostPID {
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
		ds   []dstest.PodOpt
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
			ds:   []dstest.PodOpt{dstest.HostVolume("var", "/var/lib"), dstest.Container("agent", dstest.Mount("var", "/k", dstest.SubPath("kubelet")))},
			want: []want{{hostPath: "/var/lib/kubelet", relation: "which is the", path: "/var/lib/kubelet"}},
		},
		"subPath climbing out of var log": {
			ds:   []dstest.PodOpt{dstest.HostVolume("logs", "/var/log"), dstest.Container("agent", dstest.Mount("logs", "/x", dstest.SubPath("../../etc")))},
			want: []want{{hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"harmless subPath": {
			ds: []dstest.PodOpt{dstest.HostVolume("logs", "/var/log"), dstest.Container("agent", dstest.Mount("logs", "/x", dstest.SubPath("pods")))},
		},
		"subPathExpr on etc is etc": {
			ds:   []dstest.PodOpt{dstest.HostVolume("etc", "/etc"), dstest.Container("agent", dstest.Mount("etc", "/x", dstest.SubPathExpr("$(POD_NAME)")))},
			want: []want{{hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"subPathExpr on var log is var log": {
			ds: []dstest.PodOpt{dstest.HostVolume("logs", "/var/log"), dstest.Container("agent", dstest.Mount("logs", "/x", dstest.SubPathExpr("$(POD_NAME)")))},
		},
		"read-only subPath into etc": {
			ds: []dstest.PodOpt{dstest.HostVolume("logs", "/var/log"), dstest.Container("agent", dstest.Mount("logs", "/x", dstest.ReadOnly, dstest.SubPath("../../etc")))},
		},
		"cni init container": {
			ds: []dstest.PodOpt{dstest.HostVolume("cni-bin", "/opt/cni/bin"), dstest.HostVolume("cni-conf", "/etc/cni/net.d"),
				dstest.InitContainer("install-cni", dstest.Mount("cni-bin", "/host/opt/cni/bin"), dstest.Mount("cni-conf", "/host/etc/cni/net.d")),
				dstest.Container("cni-agent", dstest.Mount("cni-conf", "/host/etc/cni/net.d", dstest.ReadOnly))},
			want: []want{
				{field: i0 + ".volumeMounts[0]", hostPath: "/opt/cni/bin", relation: "which is the", path: "/opt/cni/bin"},
				{field: i0 + ".volumeMounts[1]", hostPath: "/etc/cni/net.d", relation: "which is inside the", path: "/etc"},
			},
		},
		"ephemeral container": {
			ds:   []dstest.PodOpt{dstest.HostVolume("etc", "/etc"), dstest.Container("agent"), dstest.EphemeralContainer("debug", dstest.Mount("etc", "/e"))},
			want: []want{{field: e0 + ".volumeMounts[0]", hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"mounted read-only and writable": {
			ds: []dstest.PodOpt{dstest.HostVolume("etc", "/etc"),
				dstest.Container("a", dstest.Mount("etc", "/ro", dstest.ReadOnly)), dstest.Container("b", dstest.Mount("etc", "/rw", dstest.ReadOnly), dstest.Mount("etc", "/rw2"))},
			want: []want{{field: c1 + ".volumeMounts[1]", hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"duplicate volume name hides nothing": {
			ds:   []dstest.PodOpt{dstest.EmptyDirVolume("data"), dstest.HostVolume("data", "/etc"), dstest.Container("agent", dstest.Mount("data", "/d"))},
			want: []want{{hostPath: "/etc", relation: "which is the", path: "/etc"}},
		},
		"custom list replaces the default": {
			ds:   []dstest.PodOpt{dstest.HostVolume("a", "/data/db"), dstest.HostVolume("b", "/etc"), dstest.Container("agent", dstest.Mount("a", "/a"), dstest.Mount("b", "/b"))},
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
					" writable, " + w.relation + ` sensitive host path "` + w.path + `": the node runs, trusts or configures itself from it as root; set readOnly: true`,
				}})
			}
			assertFindings(t, onlyRule(runRules(dstest.DaemonSet(tc.ds...), tc.opts), ruleSensitive), want)
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
		ds   []dstest.PodOpt
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
			want: []want{{hostPath: "/run/k3s/containerd/containerd.sock", relation: "which is inside the", socket: "/run/k3s"}},
		},
		"k3s directory": {
			ds:   mountOf("/run/k3s", true),
			want: []want{{hostPath: "/run/k3s", relation: "which is the", socket: "/run/k3s"}},
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
		// A read-only "/" reaches every socket: as root it connects.
		"root read-only as root": {
			ds:   mountOf("/", true),
			want: []want{{hostPath: "/", relation: "which contains the", socket: "/run/docker.sock"}},
		},
		"root writable as root": {
			ds:   mountOf("/", false),
			want: []want{{hostPath: "/", relation: "which contains the", socket: "/run/docker.sock"}},
		},
		// node-exporter's pattern: a non-root uid and group.
		"root read-only as a non-root uid and group": {
			ds: append(mountOf("/", true), nonRootPod(65534)),
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
			ds:   []dstest.PodOpt{dstest.HostVolume("run", "/var/run"), dstest.Container("agent", dstest.Mount("run", "/d.sock", dstest.ReadOnly, dstest.SubPath("docker.sock")))},
			want: []want{{hostPath: "/run/docker.sock", relation: "which is the", socket: "/run/docker.sock"}},
		},
		"subPath climbing into run": {
			ds:   []dstest.PodOpt{dstest.HostVolume("logs", "/var/log"), dstest.Container("agent", dstest.Mount("logs", "/d.sock", dstest.ReadOnly, dstest.SubPath("../run/docker.sock")))},
			want: []want{{hostPath: "/run/docker.sock", relation: "which is the", socket: "/run/docker.sock"}},
		},
		"harmless subPath into run": {
			ds: []dstest.PodOpt{dstest.HostVolume("run", "/run"), dstest.Container("agent", dstest.Mount("run", "/u", dstest.ReadOnly, dstest.SubPath("udev")))},
		},
		"subPathExpr on var run is var run": {
			ds:   []dstest.PodOpt{dstest.HostVolume("run", "/var/run"), dstest.Container("agent", dstest.Mount("run", "/u", dstest.ReadOnly, dstest.SubPathExpr("$(POD_NAME)")))},
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
			ds:   mountOf("/proc/1/root", true),
			want: []want{{hostPath: "/proc/1/root", relation: "which contains the", socket: "/run/docker.sock"}},
		},
		"init container": {
			ds: []dstest.PodOpt{dstest.HostVolume("sock", "/run/containerd/containerd.sock"), dstest.Container("agent"),
				dstest.InitContainer("probe", dstest.Mount("sock", "/c.sock", dstest.ReadOnly))},
			want: []want{{field: i0 + ".volumeMounts[0]", hostPath: "/run/containerd/containerd.sock", relation: "which is inside the", socket: "/run/containerd"}},
		},
		"custom socket list replaces the default": {
			ds: []dstest.PodOpt{dstest.HostVolume("a", "/var/run/docker.sock"), dstest.HostVolume("b", "/var"),
				dstest.Container("agent", dstest.Mount("a", "/a", dstest.ReadOnly), dstest.Mount("b", "/b", dstest.ReadOnly))},
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
			assertFindings(t, onlyRule(runRules(dstest.DaemonSet(tc.ds...), tc.opts), ruleSocket), want)
		})
	}
}

func TestBidirectionalMountPropagation(t *testing.T) {
	cases := map[string]struct {
		ds   []dstest.PodOpt
		want []expect
	}{
		"bidirectional host mount": {
			ds: []dstest.PodOpt{dstest.HostVolume("mnt", "/mnt/data"), dstest.Container("agent", dstest.Mount("mnt", "/mnt", dstest.Propagation(corev1.MountPropagationBidirectional)))},
			want: []expect{{ruleBidirectional, c0 + ".volumeMounts[0].mountPropagation", []string{
				`container "agent" mounts host path "/mnt/data" (volume "mnt") at "/mnt" with Bidirectional propagation`, "use HostToContainer",
			}}},
		},
		"bidirectional read-only host mount": {
			ds:   []dstest.PodOpt{dstest.HostVolume("mnt", "/mnt/data"), dstest.Container("agent", dstest.Mount("mnt", "/mnt", dstest.ReadOnly, dstest.Propagation(corev1.MountPropagationBidirectional)))},
			want: []expect{{ruleBidirectional, c0 + ".volumeMounts[0].mountPropagation", nil}},
		},
		"bidirectional in init container": {
			ds: []dstest.PodOpt{dstest.HostVolume("mnt", "/mnt/data"), dstest.Container("agent"),
				dstest.InitContainer("setup", dstest.Mount("mnt", "/a", dstest.ReadOnly), dstest.Mount("mnt", "/mnt", dstest.Propagation(corev1.MountPropagationBidirectional)))},
			want: []expect{{ruleBidirectional, i0 + ".volumeMounts[1].mountPropagation", []string{`container "setup"`}}},
		},
		"host to container": {
			ds: []dstest.PodOpt{dstest.HostVolume("mnt", "/mnt/data"), dstest.Container("agent", dstest.Mount("mnt", "/mnt", dstest.Propagation(corev1.MountPropagationHostToContainer)))},
		},
		"none": {
			ds: []dstest.PodOpt{dstest.HostVolume("mnt", "/mnt/data"), dstest.Container("agent", dstest.Mount("mnt", "/mnt", dstest.Propagation(corev1.MountPropagationNone)))},
		},
		"bidirectional emptyDir is not a host mount": {
			ds: []dstest.PodOpt{dstest.EmptyDirVolume("s"), dstest.Container("agent", dstest.Mount("s", "/s", dstest.Propagation(corev1.MountPropagationBidirectional)))},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assertFindings(t, onlyRule(runRules(dstest.DaemonSet(tc.ds...), Options{}), ruleBidirectional), tc.want)
		})
	}
}

func TestPrivilegedContainer(t *testing.T) {
	cases := map[string]struct {
		ds   []dstest.PodOpt
		want []expect
	}{
		"privileged": {
			ds: []dstest.PodOpt{dstest.Container("agent", dstest.Privileged(true))},
			want: []expect{{rulePrivileged, c0 + ".securityContext.privileged", []string{
				`container "agent" is privileged: it has every capability and every host device`,
			}}},
		},
		"privileged init container": {
			ds:   []dstest.PodOpt{dstest.Container("agent"), dstest.InitContainer("setup", dstest.Privileged(true))},
			want: []expect{{rulePrivileged, i0 + ".securityContext.privileged", []string{`container "setup"`}}},
		},
		"privileged ephemeral container": {
			ds:   []dstest.PodOpt{dstest.Container("agent"), dstest.EphemeralContainer("debug", dstest.Privileged(true))},
			want: []expect{{rulePrivileged, e0 + ".securityContext.privileged", []string{`container "debug"`}}},
		},
		"two privileged containers": {
			ds: []dstest.PodOpt{dstest.Container("a", dstest.Privileged(true)), dstest.Container("b", dstest.Privileged(true))},
			want: []expect{
				{rulePrivileged, c0 + ".securityContext.privileged", []string{`container "a"`}},
				{rulePrivileged, c1 + ".securityContext.privileged", []string{`container "b"`}},
			},
		},
		"privileged false": {
			ds: []dstest.PodOpt{dstest.Container("agent", dstest.Privileged(false))},
		},
		"SYS_ADMIN is privileged in all but name": {
			ds:   []dstest.PodOpt{dstest.Container("agent", dstest.AddCaps("NET_ADMIN", "cap_sys_admin"))},
			want: []expect{{rulePrivileged, c0 + ".securityContext.capabilities.add[1]", []string{`container "agent" adds capability SYS_ADMIN`}}},
		},
		"narrow capabilities only": {
			ds: []dstest.PodOpt{dstest.Container("agent", dstest.AddCaps("NET_ADMIN", "SYS_PTRACE"))},
		},
		"with hostPID the hostPID rule applies instead": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.Privileged(true))},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assertFindings(t, onlyRule(runRules(dstest.DaemonSet(tc.ds...), Options{}), rulePrivileged), tc.want)
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
				{Key: "node.kubernetes.io/not-ready", Operator: exists, Effect: noExec, TolerationSeconds: dstest.Seconds(300)},
				{Key: "node.kubernetes.io/unreachable", Operator: exists, Effect: noExec, TolerationSeconds: dstest.Seconds(300)},
			},
			want: []expect{
				{ruleToleration, tol + "[2].tolerationSeconds", []string{"tolerationSeconds: 300 is ignored for node.kubernetes.io/not-ready", "never leave a failed node"}},
				{ruleToleration, tol + "[3].tolerationSeconds", []string{"tolerationSeconds: 300 is ignored for node.kubernetes.io/unreachable"}},
			},
		},
		"not-ready without seconds": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: exists, Effect: noExec}},
		},
		// The controller replaces only an exact match (MatchToleration:
		// key, operator, value and effect equal as strings).
		"equal operator with seconds is kept": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/unreachable", Operator: equal, Effect: noExec, TolerationSeconds: dstest.Seconds(60)}},
		},
		"omitted operator with seconds is kept": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Effect: noExec, TolerationSeconds: dstest.Seconds(60)}},
		},
		"empty effect with seconds is not the controller's": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: exists, TolerationSeconds: dstest.Seconds(10)}},
		},
		"empty key exists with seconds is kept": {
			tols: []corev1.Toleration{{Operator: exists, Effect: noExec, TolerationSeconds: dstest.Seconds(30)}},
		},
		"unreachable exact match": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/unreachable", Operator: exists, Effect: noExec, TolerationSeconds: dstest.Seconds(30)}},
			want: []expect{{ruleToleration, tol + "[0].tolerationSeconds", []string{"tolerationSeconds: 30 is ignored for node.kubernetes.io/unreachable", "write operator: Equal"}}},
		},
		"exact match after an equal one is still replaced": {
			tols: []corev1.Toleration{
				{Key: "node.kubernetes.io/not-ready", Operator: equal, Effect: noExec, TolerationSeconds: dstest.Seconds(60)},
				{Key: "node.kubernetes.io/not-ready", Operator: exists, Effect: noExec, TolerationSeconds: dstest.Seconds(300)},
			},
			want: []expect{{ruleToleration, tol + "[1].tolerationSeconds", []string{"tolerationSeconds: 300 is ignored"}}},
		},
		"zero seconds is still ignored": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: exists, Effect: noExec, TolerationSeconds: dstest.Seconds(0)}},
			want: []expect{{ruleToleration, tol + "[0].tolerationSeconds", []string{"tolerationSeconds: 0 is ignored"}}},
		},
		"other key with seconds": {
			tols: []corev1.Toleration{{Key: "example.com/maintenance", Operator: exists, Effect: noExec, TolerationSeconds: dstest.Seconds(300)}},
		},
		"no-schedule effect": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: exists, Effect: noSched, TolerationSeconds: dstest.Seconds(300)}},
		},
		"empty key exists without seconds (node-exporter)": {
			tols: []corev1.Toleration{{Operator: exists}},
		},
		"pressure taints are NoSchedule, seconds do not apply": {
			tols: []corev1.Toleration{{Key: "node.kubernetes.io/memory-pressure", Operator: exists, Effect: noExec, TolerationSeconds: dstest.Seconds(5)}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assertFindings(t, onlyRule(runRules(dstest.DaemonSet(dstest.Tolerations(tc.tols...), dstest.Container("agent")), Options{}), ruleToleration), tc.want)
		})
	}
}

// TestRulesTogether checks cases where several rules fire on one object, and
// that each finding is reported by exactly the rules expected.
func TestRulesTogether(t *testing.T) {
	cases := map[string]struct {
		ds   []dstest.PodOpt
		want []expect
	}{
		"clean object": {
			ds: []dstest.PodOpt{dstest.HostVolume("logs", "/var/log"), dstest.Container("agent", dstest.Mount("logs", "/l", dstest.ReadOnly))},
		},
		"hostPID writable etc": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.HostVolume("etc", "/etc"), dstest.Container("agent", dstest.Mount("etc", "/e"))},
			want: []expect{
				{ruleHostPIDWritable, c0 + ".volumeMounts[0]", nil},
				{ruleSensitive, c0 + ".volumeMounts[0]", nil},
				{ruleHostPIDRoot, "spec.template.spec.hostPID", []string{"may run as root"}},
			},
		},
		"writable var hits three rules": {
			ds: []dstest.PodOpt{dstest.HostVolume("var", "/var"), dstest.Container("agent", dstest.Mount("var", "/v"))},
			want: []expect{
				{ruleSensitive, c0 + ".volumeMounts[0]", []string{`contains the sensitive host path "/var/lib/kubelet"`}},
				{ruleSocket, c0 + ".volumeMounts[0]", []string{`contains the container runtime socket "/var/run/docker.sock"`}},
				{ruleControl, c0 + ".volumeMounts[0]", []string{`contains the node control socket "/var/lib/kubelet/device-plugins"`}},
			},
		},
		"writable run with bidirectional propagation": {
			ds: []dstest.PodOpt{dstest.HostVolume("run", "/run"), dstest.Container("agent", dstest.Mount("run", "/r", dstest.Propagation(corev1.MountPropagationBidirectional)))},
			want: []expect{
				{ruleSocket, c0 + ".volumeMounts[0]", nil},
				{ruleControl, c0 + ".volumeMounts[0]", []string{`"/run/systemd/private"`}},
				{ruleSensitive, c0 + ".volumeMounts[0]", []string{`contains the sensitive host path "/run/udev"`}},
				{ruleCred, c0 + ".volumeMounts[0]", []string{`contains the credential path "/run/containers"`}},
				{ruleBidirectional, c0 + ".volumeMounts[0].mountPropagation", nil},
			},
		},
		"everything at once": {
			ds: []dstest.PodOpt{dstest.HostPID, dstest.HostVolume("root", "/"), dstest.HostVolume("sock", "/var/run/docker.sock"),
				dstest.Tolerations(corev1.Toleration{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: dstest.Seconds(1)}),
				dstest.Container("agent", dstest.Privileged(true), dstest.Mount("root", "/host", dstest.Propagation(corev1.MountPropagationBidirectional)), dstest.Mount("sock", "/d.sock", dstest.ReadOnly))},
			want: []expect{
				{ruleHostPIDWritable, c0 + ".volumeMounts[0]", nil},
				{ruleHostPIDPriv, c0 + ".securityContext.privileged", nil},
				{ruleSensitive, c0 + ".volumeMounts[0]", []string{`which is the sensitive host path "/"`}},
				{ruleSocket, c0 + ".volumeMounts[0]", []string{"is privileged"}},
				{ruleControl, c0 + ".volumeMounts[0]", nil},
				{ruleSocket, c0 + ".volumeMounts[1]", nil},
				{ruleNested, c0 + ".volumeMounts[1]", []string{`lies inside "/" (volume "root"), which container "agent" mounts writable`}},
				{ruleBidirectional, c0 + ".volumeMounts[0].mountPropagation", nil},
				{ruleToleration, tol + "[0].tolerationSeconds", nil},
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assertFindings(t, runRules(dstest.DaemonSet(tc.ds...), Options{}), tc.want)
		})
	}
}

// mountOf is a pod with one container mounting one host path.
// noEscalation sets allowPrivilegeEscalation: false on a container.
func noEscalation(c *corev1.Container) {
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	f := false
	c.SecurityContext.AllowPrivilegeEscalation = &f
}

// nonRootPod runs the pod as uid and gid id.
func nonRootPod(id int64) dstest.PodOpt {
	return func(s *corev1.PodSpec) {
		s.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &id, RunAsGroup: &id}
	}
}

func mountOf(path string, ro bool) []dstest.PodOpt {
	var opts []dstest.MountOpt
	if ro {
		opts = append(opts, dstest.ReadOnly)
	}
	return []dstest.PodOpt{dstest.HostVolume("host", path), dstest.Container("agent", dstest.Mount("host", "/host", opts...))}
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
		findings := onlyRule(runRules(dstest.DaemonSet(mountOf(p, true)...), Options{}), ruleSocket)
		if len(findings) != 1 {
			t.Errorf("%s: %d container-runtime-socket findings, want 1", p, len(findings))
		}
	}
}

// Windows HostProcess pods and containers have full access to the node
// without ever saying privileged.
func TestWindowsHostProcessIsPrivileged(t *testing.T) {
	yes := true
	pod := dstest.DaemonSet(dstest.Container("agent"))
	pod.Spec.Template.Spec.SecurityContext = &corev1.PodSecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{HostProcess: &yes}}
	got := onlyRule(runRules(pod, Options{}), "privileged-container")
	if len(got) != 1 || got[0].Field != "spec.template.spec.securityContext.windowsOptions.hostProcess" {
		t.Fatalf("pod-level hostProcess: %+v", got)
	}
	c := dstest.DaemonSet(dstest.Container("agent"))
	c.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{HostProcess: &yes}}
	got = onlyRule(runRules(c, Options{}), "privileged-container")
	if len(got) != 1 || got[0].Field != "spec.template.spec.containers[0].securityContext.windowsOptions.hostProcess" ||
		!strings.Contains(got[0].Detail, `container "agent" is a Windows HostProcess container`) {
		t.Fatalf("container-level hostProcess: %+v", got)
	}
}
