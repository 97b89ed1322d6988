package validators

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/daemonguard/daemonguard/test/dstest"
)

// Tables for the threat model v2 rules and the path readings they share,
// one per class of the issue.

// threatCase is one DaemonSet and the findings of the rules under test.
type threatCase struct {
	ds   []dstest.PodOpt
	want []expect
}

func runThreat(t *testing.T, rules []string, cases map[string]threatCase) {
	t.Helper()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := runRules(dstest.DaemonSet(tc.ds...), Options{})
			var only []finding
			for _, r := range rules {
				only = append(only, onlyRule(got, r)...)
			}
			sortFindings(only)
			assertFindings(t, only, tc.want)
		})
	}
}

func ro(path string) []dstest.PodOpt                                   { return mountOf(path, true) }
func rw(path string) []dstest.PodOpt                                   { return mountOf(path, false) }
func m0() string                                                       { return c0 + ".volumeMounts[0]" }
func with(opts []dstest.PodOpt, more ...dstest.PodOpt) []dstest.PodOpt { return append(opts, more...) }

// Class 1: node control sockets beyond the runtime.
func TestHostControlSocket(t *testing.T) {
	runThreat(t, []string{ruleControl, ruleSocket}, map[string]threatCase{
		"device plugins read-only": {ds: ro("/var/lib/kubelet/device-plugins"),
			want: []expect{{ruleControl, m0(), []string{`which is the node control socket "/var/lib/kubelet/device-plugins"`, "even through a read-only mount", "remove the mount"}}}},
		"kubelet.sock inside device plugins": {ds: ro("/var/lib/kubelet/device-plugins/kubelet.sock"),
			want: []expect{{ruleControl, m0(), []string{`which is inside the node control socket "/var/lib/kubelet/device-plugins"`}}}},
		"csi plugins":       {ds: ro("/var/lib/kubelet/plugins/ebs.csi.aws.com"), want: []expect{{ruleControl, m0(), nil}}},
		"plugins registry":  {ds: ro("/var/lib/kubelet/plugins_registry"), want: []expect{{ruleControl, m0(), nil}}},
		"kubelet root":      {ds: ro("/var/lib/kubelet"), want: []expect{{ruleControl, m0(), []string{`which contains the node control socket "/var/lib/kubelet/device-plugins"`}}}},
		"pod resources ok":  {ds: ro("/var/lib/kubelet/pod-resources")},
		"plugins prefix ok": {ds: ro("/var/lib/kubelet/plugins-data")},
		"systemd private":   {ds: ro("/run/systemd/private"), want: []expect{{ruleControl, m0(), nil}}},
		"all of run systemd": {ds: ro("/var/run/systemd"),
			want: []expect{{ruleControl, m0(), []string{`host path "/run/systemd"`, `contains the node control socket "/run/systemd/private"`}}}},
		"journal socket ok":            {ds: ro("/run/systemd/journal/socket")},
		"journal control socket":       {ds: ro("/run/systemd/journal"), want: []expect{{ruleControl, m0(), []string{`contains the node control socket "/run/systemd/journal/io.systemd.journal"`}}}},
		"run log journal ok":           {ds: ro("/run/log/journal")},
		"dbus system bus":              {ds: ro("/var/run/dbus/system_bus_socket"), want: []expect{{ruleControl, m0(), []string{`inside the node control socket "/run/dbus"`}}}},
		"snapd":                        {ds: ro("/run/snapd.socket"), want: []expect{{ruleControl, m0(), nil}}},
		"bottlerocket api":             {ds: ro("/run/api.sock"), want: []expect{{ruleControl, m0(), nil}}},
		"var contains plugins":         {ds: ro("/var/lib"), want: []expect{{ruleControl, m0(), nil}}},
		"plain read-only root as root": {ds: ro("/"), want: []expect{{ruleControl, m0(), []string{"may run as root"}}, {ruleSocket, m0(), []string{"may run as root"}}}},
		"plain read-only root as a non-root uid and group": {ds: append(ro("/"), nonRootPod(65534))},
		"root with subPath is not the plain root": {
			ds:   []dstest.PodOpt{dstest.HostVolume("root", "/"), dstest.Container("agent", dstest.Mount("root", "/r", dstest.ReadOnly, dstest.SubPath("run/dbus")))},
			want: []expect{{ruleControl, m0(), []string{`host path "/run/dbus"`}}}},
		"nri is the runtime's":    {ds: ro("/var/run/nri/nri.sock"), want: []expect{{ruleSocket, m0(), []string{`inside the container runtime socket directory "/run/nri"`}}}},
		"crun state":              {ds: ro("/run/crun"), want: []expect{{ruleSocket, m0(), nil}}},
		"runc state":              {ds: ro("/run/runc"), want: []expect{{ruleSocket, m0(), nil}}},
		"talos system containerd": {ds: ro("/system/run/containerd/containerd.sock"), want: []expect{{ruleSocket, m0(), nil}}},
		"k0s containerd":          {ds: ro("/run/k0s/containerd.sock"), want: []expect{{ruleSocket, m0(), nil}}},
		"microk8s containerd":     {ds: ro("/var/snap/microk8s/common/run/containerd.sock"), want: []expect{{ruleSocket, m0(), nil}}},
	})
}

// Class 2: host paths the node later executes or trusts as root.
func TestSensitivePathsV2(t *testing.T) {
	cases := map[string]threatCase{}
	for _, p := range []string{"/run/udev/rules.d", "/etc/udev/rules.d", "/run/modprobe.d", "/etc/modprobe.d", "/var/run/cdi", "/etc/cdi",
		"/home/core/.ssh", "/home/kubernetes/bin", "/home/kubernetes/flexvolume", "/var/lib/cloud/scripts/per-boot", "/run/systemd/system",
		"/run/systemd/transient", "/opt/nri/plugins", "/opt/bin", "/var/lib/k0s/bin", "/var/snap/microk8s/current/args", "/snap/microk8s",
		"/system/state", "/local", "/sysroot", "/ostree/deploy", "/var/usrlocal/bin", "/usr/libexec/kubernetes/kubelet-plugins/volume/exec"} {
		cases["writable "+p] = threatCase{ds: rw(p), want: []expect{{ruleSensitive, m0(), []string{"the node runs, trusts or configures itself from it as root", "set readOnly: true"}}}}
		cases["read-only "+p] = threatCase{ds: ro(p)}
	}
	cases["udev data read-only (node-exporter)"] = threatCase{ds: ro("/run/udev/data")}
	cases["opt data is fine"] = threatCase{ds: rw("/opt/agent")}
	cases["home prefix is not home"] = threatCase{ds: rw("/homework")}
	runThreat(t, []string{ruleSensitive}, cases)
}

// Class 3: credential reads.
func TestCredentialRead(t *testing.T) {
	nonRoot := func(s *corev1.PodSpec) {
		yes := true
		s.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: &yes}
	}
	uid := func(u int64) dstest.PodOpt {
		return func(s *corev1.PodSpec) { s.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &u} }
	}
	ctrUID := func(u int64) dstest.PodOpt {
		return func(s *corev1.PodSpec) {
			sc := s.Containers[0].SecurityContext
			if sc == nil {
				sc = &corev1.SecurityContext{}
				s.Containers[0].SecurityContext = sc
			}
			sc.RunAsUser = &u
		}
	}
	credMsg := []string{"a read-only mount still hands it out", "mount only the file the agent needs"}
	runThreat(t, []string{ruleCred, ruleCredAncestor}, map[string]threatCase{
		"etc kubernetes":              {ds: ro("/etc/kubernetes"), want: []expect{{ruleCred, m0(), append([]string{`which contains the credential path "/etc/kubernetes/admin.conf" (cluster-admin kubeconfig`}, credMsg...)}}},
		"admin.conf":                  {ds: ro("/etc/kubernetes/admin.conf"), want: []expect{{ruleCred, m0(), []string{`which is the credential path "/etc/kubernetes/admin.conf"`}}}},
		"etcd":                        {ds: ro("/var/lib/etcd"), want: []expect{{ruleCred, m0(), nil}}},
		"kubelet pki":                 {ds: ro("/var/lib/kubelet/pki"), want: []expect{{ruleCred, m0(), nil}}},
		"kubelet pods":                {ds: ro("/var/lib/kubelet/pods"), want: []expect{{ruleCred, m0(), nil}}},
		"kubelet kubeconfig":          {ds: ro("/var/lib/kubelet/kubeconfig"), want: []expect{{ruleCred, m0(), nil}}},
		"kubelet root is not generic": {ds: ro("/var/lib/kubelet"), want: []expect{{ruleCred, m0(), []string{`contains the credential path "/var/lib/kubelet/pods"`}}}},
		"root home":                   {ds: ro("/root/.kube"), want: []expect{{ruleCred, m0(), nil}}},
		"k3s kubeconfig":              {ds: ro("/etc/rancher/k3s/k3s.yaml"), want: []expect{{ruleCred, m0(), nil}}},
		"k3s server token":            {ds: ro("/var/lib/rancher/k3s/server/token"), want: []expect{{ruleCred, m0(), nil}}},
		"rancher contains":            {ds: ro("/var/lib/rancher"), want: []expect{{ruleCred, m0(), nil}}},
		"k0s pki":                     {ds: ro("/var/lib/k0s/pki"), want: []expect{{ruleCred, m0(), nil}}},
		"shadow":                      {ds: ro("/etc/shadow"), want: []expect{{ruleCred, m0(), nil}}},
		"passwd is fine":              {ds: ro("/etc/passwd")},
		"os-release is fine":          {ds: ro("/etc/os-release")},
		"kubelet config file":         {ds: ro("/var/lib/kubelet/config.yaml")},
		"writable is a read too":      {ds: rw("/var/lib/kubelet/pods"), want: []expect{{ruleCred, m0(), nil}}},
		"subPath into pods": {
			ds:   []dstest.PodOpt{dstest.HostVolume("h", "/var/lib"), dstest.Container("agent", dstest.Mount("h", "/s", dstest.ReadOnly, dstest.SubPath("kubelet/pods")))},
			want: []expect{{ruleCred, m0(), []string{`host path "/var/lib/kubelet/pods"`}}}},
		"opaque subPathExpr on a generic ancestor can land on credentials": {
			ds:   []dstest.PodOpt{dstest.HostVolume("h", "/var/lib"), dstest.Container("agent", dstest.Mount("h", "/s", dstest.ReadOnly, dstest.SubPathExpr("$(POD_NAME)")))},
			want: []expect{{ruleCred, m0(), []string{"which can reach anything in it", `contains the credential path`}}}},
		"through init's root": {ds: ro("/proc/1/root/etc/kubernetes/pki"), want: []expect{{ruleCred, m0(), []string{`the node's "/etc/kubernetes/pki"`}}}},
		// The warning tier: generic ancestors by a container that may run as root.
		"read-only root as root warns": {ds: ro("/"),
			want: []expect{{ruleCredAncestor, m0(), []string{"may run as root", `"/etc/kubernetes/admin.conf"`, "more;", "set runAsNonRoot: true"}}}},
		"read-only etc as root warns":       {ds: ro("/etc"), want: []expect{{ruleCredAncestor, m0(), []string{`"/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf", "/etc/kubernetes/kubelet.conf"`}}}},
		"read-only var lib as root":         {ds: ro("/var/lib"), want: []expect{{ruleCredAncestor, m0(), nil}}},
		"read-only root, pod runAsNonRoot":  {ds: with(ro("/"), nonRoot)},
		"read-only root, pod uid 65534":     {ds: with(ro("/"), uid(65534))},
		"read-only root, pod uid 0":         {ds: with(ro("/"), uid(0)), want: []expect{{ruleCredAncestor, m0(), nil}}},
		"container uid 0 overrides pod uid": {ds: with(ro("/"), uid(65534), ctrUID(0)), want: []expect{{ruleCredAncestor, m0(), nil}}},
		"container uid overrides pod root":  {ds: with(ro("/"), uid(0), ctrUID(1000))},
		"uid 65534 in group 0 can reach root's group files": {ds: with(ro("/"), uid(65534), func(s *corev1.PodSpec) {
			g := int64(0)
			s.SecurityContext.RunAsGroup = &g
		}), want: []expect{{ruleCredAncestor, m0(), nil}}},
		"runAsNonRoot with supplemental group 0": {ds: with(ro("/"), nonRoot, func(s *corev1.PodSpec) {
			s.SecurityContext.SupplementalGroups = []int64{0}
		}), want: []expect{{ruleCredAncestor, m0(), nil}}},
		"runAsNonRoot with fsGroup 0": {ds: with(ro("/"), nonRoot, func(s *corev1.PodSpec) {
			g := int64(0)
			s.SecurityContext.FSGroup = &g
		}), want: []expect{{ruleCredAncestor, m0(), nil}}},
		"pod runAsNonRoot, container root uid still non-root": {ds: with(ro("/"), nonRoot, ctrUID(0))},
		"writable root is left to the sensitive-path rule":    {ds: rw("/")},
		"read-only var log is no ancestor":                    {ds: ro("/var/log")},
	})
}

// Class 4: capabilities and confinement.
func TestStrongCapabilities(t *testing.T) {
	cases := map[string]threatCase{}
	for capability, why := range map[string]string{
		"SYS_MODULE": "load a kernel module", "SYS_RAWIO": "physical memory", "DAC_READ_SEARCH": "open_by_handle_at",
		"BPF": "BPF programs", "PERFMON": "trace every host process", "SYS_BOOT": "kexec",
	} {
		cases["hostPID "+capability] = threatCase{
			ds:   []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.AddCaps("cap_"+capability))},
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[0]", []string{`hostPID is true and container "agent" adds capability ` + capability, why, "drop hostPID"}}},
		}
		rule, nonRoot := rulePrivileged, []expect{{rulePrivileged, c0 + ".securityContext.capabilities.add[0]", []string{`container "agent" adds capability ` + capability}}}
		if _, ok := rootCapabilities[capability]; ok {
			// Root by itself: denied where the container can use it, as
			// uid 0; a non-root uid without escalation cannot.
			rule, why, nonRoot = ruleKernelCap, rootCapabilities[capability], nil
		}
		cases["no hostPID "+capability] = threatCase{
			ds:   []dstest.PodOpt{dstest.Container("agent", dstest.AddCaps(capability))},
			want: []expect{{rule, c0 + ".securityContext.capabilities.add[0]", []string{`container "agent" adds capability ` + capability, why}}},
		}
		cases["no hostPID, non-root without escalation, "+capability] = threatCase{
			ds:   []dstest.PodOpt{nonRootPod(1000), dstest.Container("agent", dstest.AddCaps(capability), noEscalation)},
			want: nonRoot,
		}
	}
	cases["narrow capabilities stay quiet"] = threatCase{ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", dstest.AddCaps("NET_ADMIN", "NET_RAW", "SYS_RESOURCE", "CHOWN"))}}
	runThreat(t, []string{ruleHostPIDPriv, rulePrivileged, ruleKernelCap}, cases)
}

func TestPtraceAndConfinement(t *testing.T) {
	ptrace := dstest.AddCaps("SYS_PTRACE")
	apparmor := func(typ corev1.AppArmorProfileType) dstest.CtrOpt {
		return func(c *corev1.Container) {
			if c.SecurityContext == nil {
				c.SecurityContext = &corev1.SecurityContext{}
			}
			c.SecurityContext.AppArmorProfile = &corev1.AppArmorProfile{Type: typ}
		}
	}
	selinux := func(typ string) dstest.CtrOpt {
		return func(c *corev1.Container) { c.SecurityContext.SELinuxOptions = &corev1.SELinuxOptions{Type: typ} }
	}
	podAppArmor := func(s *corev1.PodSpec) {
		s.SecurityContext = &corev1.PodSecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}}
	}
	add := c0 + ".securityContext.capabilities.add[0]"
	cases := map[string]threatCase{
		"hostPID ptrace with the default profile warns": {ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", ptrace)},
			want: []expect{{rulePtrace, add, []string{`container "agent" adds capability SYS_PTRACE`, "/proc/<pid>/root"}}}},
		"no hostPID, no finding": {ds: []dstest.PodOpt{dstest.Container("agent", ptrace, apparmor(corev1.AppArmorProfileTypeUnconfined))}},
		"apparmor field unconfined denies": {ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", ptrace, apparmor(corev1.AppArmorProfileTypeUnconfined))},
			want: []expect{{rulePtraceUnconf, add, []string{"with AppArmor Unconfined", "keep the runtime's default profile"}}}},
		"apparmor runtime default is fine": {ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", ptrace, apparmor(corev1.AppArmorProfileTypeRuntimeDefault))},
			want: []expect{{rulePtrace, add, nil}}},
		"pod-level apparmor unconfined": {ds: []dstest.PodOpt{dstest.HostPID, podAppArmor, dstest.Container("agent", ptrace)},
			want: []expect{{rulePtraceUnconf, add, nil}}},
		"container profile overrides the pod's": {ds: []dstest.PodOpt{dstest.HostPID, podAppArmor, dstest.Container("agent", ptrace, apparmor(corev1.AppArmorProfileTypeRuntimeDefault))},
			want: []expect{{rulePtrace, add, nil}}},
		"legacy annotation": {ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", ptrace)},
			want: []expect{{rulePtraceUnconf, add, []string{"AppArmor Unconfined"}}}},
		"selinux spc_t": {ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", ptrace, selinux("spc_t"))},
			want: []expect{{rulePtraceUnconf, add, []string{"with SELinux type spc_t"}}}},
		"selinux container_t": {ds: []dstest.PodOpt{dstest.HostPID, dstest.Container("agent", ptrace, selinux("container_t"))},
			want: []expect{{rulePtrace, add, nil}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ds := dstest.DaemonSet(tc.ds...)
			if name == "legacy annotation" {
				ds.Spec.Template.Annotations = map[string]string{"container.apparmor.security.beta.kubernetes.io/agent": "unconfined"}
			}
			got := append(onlyRule(runRules(ds, Options{}), rulePtrace), onlyRule(runRules(ds, Options{}), rulePtraceUnconf)...)
			sortFindings(got)
			assertFindings(t, got, tc.want)
		})
	}
}

func TestUnmaskedProcMount(t *testing.T) {
	unmasked := func(c *corev1.Container) {
		p := corev1.UnmaskedProcMount
		c.SecurityContext = &corev1.SecurityContext{ProcMount: &p}
	}
	userNS := func(s *corev1.PodSpec) { no := false; s.HostUsers = &no }
	runThreat(t, []string{ruleProcMount}, map[string]threatCase{
		"unmasked": {ds: []dstest.PodOpt{dstest.Container("agent", unmasked)},
			want: []expect{{ruleProcMount, c0 + ".securityContext.procMount", []string{"kernel.core_pattern", "remove procMount"}}}},
		"unmasked in a user namespace": {ds: []dstest.PodOpt{userNS, dstest.Container("agent", unmasked)}},
		"default":                      {ds: []dstest.PodOpt{dstest.Container("agent")}},
	})
}

// Class 5: host /proc is hostPID by another door.
func TestHostProcDoor(t *testing.T) {
	priv := dstest.Privileged(true)
	door := func(path string, ctr ...dstest.CtrOpt) []dstest.PodOpt {
		return []dstest.PodOpt{dstest.HostVolume("proc", path), dstest.Container("agent", append(ctr, dstest.Mount("proc", "/host/proc", dstest.ReadOnly))...)}
	}
	runThreat(t, []string{ruleHostPIDPriv, rulePrivileged, ruleKernelCap}, map[string]threatCase{
		"privileged with host proc": {ds: door("/proc", priv),
			want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.privileged", []string{`container "agent" mounts the host's /proc (host path "/proc" at "/host/proc"), which is hostPID by another door, and it is privileged`, "remove the host /proc mount"}}}},
		"privileged with host root":      {ds: door("/", priv), want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.privileged", []string{`host path "/"`}}}},
		"privileged with proc 1":         {ds: door("/proc/1", priv), want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.privileged", nil}}},
		"privileged through init's root": {ds: door("/proc/1/root", priv), want: []expect{{ruleHostPIDPriv, c0 + ".securityContext.privileged", []string{`host path "/"`}}}},
		"SYS_ADMIN and SYS_MODULE with host proc": {ds: door("/proc", dstest.AddCaps("SYS_ADMIN", "SYS_MODULE")),
			want: []expect{
				{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[0]", []string{"hostPID by another door", "adds capability SYS_ADMIN"}},
				{ruleHostPIDPriv, c0 + ".securityContext.capabilities.add[1]", []string{"adds capability SYS_MODULE"}},
			}},
		"privileged without a proc mount only warns": {ds: []dstest.PodOpt{dstest.Container("agent", priv)},
			want: []expect{{rulePrivileged, c0 + ".securityContext.privileged", nil}}},
		"privileged with proc sys is no door":         {ds: door("/proc/sys", priv), want: []expect{{rulePrivileged, c0 + ".securityContext.privileged", nil}}},
		"unprivileged with host proc (node-exporter)": {ds: door("/proc")},
		"SYS_MODULE alone with host proc is root by itself": {ds: door("/proc", dstest.AddCaps("SYS_MODULE")),
			want: []expect{{ruleKernelCap, c0 + ".securityContext.capabilities.add[0]", nil}}},
		"another container's proc mount is not this one's door": {
			ds:   []dstest.PodOpt{dstest.HostVolume("proc", "/proc"), dstest.Container("reader", dstest.Mount("proc", "/p", dstest.ReadOnly)), dstest.Container("priv", priv)},
			want: []expect{{rulePrivileged, c1 + ".securityContext.privileged", nil}}},
	})
}

// Class 6: paths the author does not spell out.
func TestSubPathExprResolved(t *testing.T) {
	env := func(kv ...string) dstest.CtrOpt {
		return func(c *corev1.Container) {
			for i := 0; i+1 < len(kv); i += 2 {
				c.Env = append(c.Env, corev1.EnvVar{Name: kv[i], Value: kv[i+1]})
			}
		}
	}
	fieldRef := func(name string) dstest.CtrOpt {
		return func(c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}})
		}
	}
	annotationRef := func(name string) dstest.CtrOpt {
		return func(c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['dir']"}}})
		}
	}
	namespaceRef := func(name string) dstest.CtrOpt {
		return func(c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}})
		}
	}
	vol := func(path, expr string, readOnly bool, ctr ...dstest.CtrOpt) []dstest.PodOpt {
		opts := []dstest.MountOpt{dstest.SubPathExpr(expr)}
		if readOnly {
			opts = append(opts, dstest.ReadOnly)
		}
		return []dstest.PodOpt{dstest.HostVolume("v", path), dstest.Container("agent", append(ctr, dstest.Mount("v", "/v", opts...))...)}
	}
	runThreat(t, []string{ruleSensitive, ruleSocket, ruleCred, ruleUnknownSocket}, map[string]threatCase{
		"literal env into the containerd directory": {ds: vol("/", "$(D)", true, env("D", "run/containerd")),
			want: []expect{{ruleSocket, m0(), []string{`host path "/run/containerd" (subPathExpr "$(D)" expands to "run/containerd")`}}}},
		"chained literals": {ds: vol("/", "$(B)", false, env("A", "etc", "B", "$(A)/kubernetes")),
			want: []expect{
				{ruleCred, m0(), []string{`"/etc/kubernetes"`}},
				{ruleSensitive, m0(), []string{`host path "/etc/kubernetes"`}},
			}},
		"last definition wins": {ds: vol("/var/lib", "$(D)", false, env("D", "agent", "D", "kubelet")),
			want: []expect{{ruleCred, m0(), nil}, {ruleSensitive, m0(), []string{`host path "/var/lib/kubelet"`}}}},
		"escaped dollar is literal":          {ds: vol("/var/lib/agent", "$$(D)", false, env("D", "../kubelet"))},
		"literal into a harmless directory":  {ds: vol("/var/lib/agent-data", "$(D)/cache", false, env("D", "node"))},
		"fieldRef is known only on the node": {ds: vol("/var/lib/agent-data", "$(POD)", false, fieldRef("POD"))},
		// The DaemonSet controller names its pods "<name>-xxxxx": the
		// expansion is one entry of /run with that prefix, no socket there.
		"pod name under run reaches only the pod's own entry": {ds: vol("/run", "$(POD)", true, fieldRef("POD")),
			want: []expect{{ruleUnknownSocket, m0(), []string{`which reaches one entry in it whose name starts with "agent-"`}}}},
		"literal referring to a fieldRef stays below its literal directory": {ds: vol("/run", "$(B)", true, fieldRef("POD"), env("B", "x/$(POD)")),
			want: []expect{{ruleUnknownSocket, m0(), []string{`host path "/run/x" with subPathExpr "$(B)", which reaches one entry in it whose name starts with "agent-"`}}}},
		"undefined variable is unknown": {ds: vol("/run", "$(NOPE)", true), want: []expect{{ruleSocket, m0(), nil}, {ruleCred, m0(), nil}}},
		"read-only root with a pod-name subPathExpr reaches only the pod's own directory": {ds: vol("/", "$(POD)", true, fieldRef("POD"))},
		"read-only root with an annotation subPathExpr is not node-exporter": {ds: vol("/", "$(A)", true, annotationRef("A")),
			want: []expect{{ruleCred, m0(), nil}, {ruleSocket, m0(), []string{`host path "/" with subPathExpr "$(A)", which can reach anything in it`}}}},
		"the namespace is the DaemonSet's own":               {ds: vol("/var/lib/kubelet", "$(NS)", true, namespaceRef("NS"))},
		"read-only root with a literal harmless subPathExpr": {ds: vol("/", "$(D)", true, env("D", "opt/agent"))},
	})
}

func TestNestedHostPath(t *testing.T) {
	runThreat(t, []string{ruleNested}, map[string]threatCase{
		"init writes the parent, app mounts inside": {
			ds: []dstest.PodOpt{dstest.HostVolume("data", "/var/lib/agent"), dstest.HostVolume("cfg", "/var/lib/agent/conf"),
				dstest.InitContainer("setup", dstest.Mount("data", "/d")), dstest.Container("app", dstest.Mount("cfg", "/c", dstest.ReadOnly))},
			want: []expect{{ruleNested, c0 + ".volumeMounts[0]", []string{
				`container "app" mounts host path "/var/lib/agent/conf" (volume "cfg") at "/c", which lies inside "/var/lib/agent" (volume "data"), which init container "setup" mounts writable`,
				"a symlink planted", "use subPath"}}}},
		// The same path, or a directory above the writable one (a
		// read-only / beside a writable state directory, as Datadog's agent
		// mounts them), gives no access its own mount did not already give.
		"equal paths are not nested": {
			ds: []dstest.PodOpt{dstest.HostVolume("a", "/srv/x"), dstest.HostVolume("b", "/srv/x/"),
				dstest.Container("w", dstest.Mount("a", "/a")), dstest.Container("r", dstest.Mount("b", "/b", dstest.ReadOnly))}},
		"above the writable one is not nested": {
			ds: []dstest.PodOpt{dstest.HostVolume("a", "/srv/x/y"), dstest.HostVolume("b", "/srv/x"),
				dstest.Container("w", dstest.Mount("a", "/a")), dstest.Container("r", dstest.Mount("b", "/b", dstest.ReadOnly))}},
		"one volume mounted twice is not nested": {
			ds: []dstest.PodOpt{dstest.HostVolume("a", "/srv/x"), dstest.Container("w", dstest.Mount("a", "/a")), dstest.Container("r", dstest.Mount("a", "/b", dstest.ReadOnly, dstest.SubPath("y")))}},
		"both read-only": {
			ds: []dstest.PodOpt{dstest.HostVolume("a", "/srv/x"), dstest.HostVolume("b", "/srv/x/y"),
				dstest.Container("r", dstest.Mount("a", "/a", dstest.ReadOnly), dstest.Mount("b", "/b", dstest.ReadOnly))}},
		"unrelated": {
			ds: []dstest.PodOpt{dstest.HostVolume("a", "/srv/x"), dstest.HostVolume("b", "/srv/xy"),
				dstest.Container("r", dstest.Mount("a", "/a"), dstest.Mount("b", "/b", dstest.ReadOnly))}},
		"unmounted volume counts as writable": {
			ds:   []dstest.PodOpt{dstest.HostVolume("a", "/srv"), dstest.HostVolume("b", "/srv/x"), dstest.Container("r", dstest.Mount("b", "/b", dstest.ReadOnly))},
			want: []expect{{ruleNested, c0 + ".volumeMounts[0]", []string{"which no container mounts, so an ephemeral container can mount it writable"}}}},
	})
}

func TestUnmountedHostPath(t *testing.T) {
	runThreat(t, []string{ruleSensitive, ruleSocket, ruleHostPIDWritable}, map[string]threatCase{
		"unmounted root": {ds: []dstest.PodOpt{dstest.HostVolume("root", "/"), dstest.Container("agent")},
			want: []expect{{ruleSensitive, "spec.template.spec.volumes[0]", []string{
				`hostPath volume "root" declares host path "/" that no container mounts (an ephemeral container can mount it writable), which is the sensitive host path "/"`}},
				// Not the plain read-only root of node-exporter.
				{ruleSocket, "spec.template.spec.volumes[0]", nil}}},
		"unmounted containerd directory": {ds: []dstest.PodOpt{dstest.HostVolume("c", "/run/containerd"), dstest.Container("agent")},
			want: []expect{{ruleSocket, "spec.template.spec.volumes[0]", nil}}},
		"unmounted with hostPID": {ds: []dstest.PodOpt{dstest.HostPID, dstest.HostVolume("d", "/data"), dstest.Container("agent")},
			want: []expect{{ruleHostPIDWritable, "spec.template.spec.volumes[0]", nil}}},
		"unmounted harmless":                           {ds: []dstest.PodOpt{dstest.HostVolume("d", "/data"), dstest.Container("agent")}},
		"unmounted emptyDir":                           {ds: []dstest.PodOpt{dstest.EmptyDirVolume("d"), dstest.Container("agent")}},
		"mounted by an init container only is mounted": {ds: []dstest.PodOpt{dstest.HostVolume("e", "/etc"), dstest.InitContainer("i", dstest.Mount("e", "/e", dstest.ReadOnly)), dstest.Container("agent")}},
	})
}

// Class 7: Windows nodes.
func TestWindowsPaths(t *testing.T) {
	win := func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"kubernetes.io/os": "windows"} }
	runThreat(t, []string{ruleSensitive, ruleSocket, ruleControl, ruleCred}, map[string]threatCase{
		"drive root":          {ds: rw(`C:\`), want: []expect{{ruleSensitive, m0(), []string{`host path "c:\" (volume "host")`, `which is the sensitive host path "c:\"`}}, {ruleControl, m0(), nil}}},
		"drive root, slash":   {ds: rw(`c:/`), want: []expect{{ruleSensitive, m0(), nil}, {ruleControl, m0(), nil}}},
		"drive only":          {ds: rw(`C:`), want: []expect{{ruleSensitive, m0(), nil}, {ruleControl, m0(), nil}}},
		"backslash dotdot":    {ds: rw(`C:\k\..\Windows`), want: []expect{{ruleSensitive, m0(), []string{`"c:\windows"`}}, {ruleCred, m0(), []string{`"c:\windows\system32\config"`}}}},
		"case":                {ds: rw(`c:\WINDOWS\System32`), want: []expect{{ruleSensitive, m0(), []string{`inside the sensitive host path "c:\windows"`}}, {ruleCred, m0(), nil}}},
		"k dir":               {ds: rw(`C:\k`), want: []expect{{ruleCred, m0(), nil}, {ruleSensitive, m0(), nil}}},
		"kubelet dir":         {ds: rw(`C:\var\lib\kubelet`), want: []expect{{ruleCred, m0(), nil}, {ruleSensitive, m0(), nil}, {ruleControl, m0(), nil}}},
		"driveless backslash": {ds: rw(`\var\lib\kubelet`), want: []expect{{ruleCred, m0(), nil}, {ruleSensitive, m0(), nil}, {ruleControl, m0(), nil}}},
		"driveless slash on a windows pod": {ds: with(rw(`/Windows/System32`), win),
			want: []expect{{ruleSensitive, m0(), []string{`host path "/Windows/System32" ("c:\windows\system32" on a Windows node)`}}, {ruleCred, m0(), nil}}},
		"driveless slash on any pod is linux":              {ds: rw(`/Windows/System32`)},
		"extended-length prefix":                           {ds: rw(`\\?\C:\Windows`), want: []expect{{ruleSensitive, m0(), nil}, {ruleCred, m0(), nil}}},
		"device prefix to a drive":                         {ds: rw(`\\.\c:\k`), want: []expect{{ruleCred, m0(), nil}, {ruleSensitive, m0(), nil}}},
		"containerd state":                                 {ds: rw(`C:\ProgramData\containerd\root`), want: []expect{{ruleSensitive, m0(), nil}, {ruleCred, m0(), nil}}},
		"program files":                                    {ds: rw(`C:\Program Files\containerd`), want: []expect{{ruleSensitive, m0(), nil}}},
		"other drive is fine":                              {ds: rw(`D:\Windows`)},
		"agent data is fine":                               {ds: rw(`C:\agent-data`)},
		"containerd pipe":                                  {ds: ro(`\\.\pipe\containerd-containerd`), want: []expect{{ruleSocket, m0(), []string{`host path "\\.\pipe\containerd-containerd"`, `which is the container runtime socket "\\.\pipe\containerd-containerd"`}}}},
		"docker pipe, forward slashes":                     {ds: ro(`//./pipe/docker_engine`), want: []expect{{ruleSocket, m0(), nil}}},
		"cri-dockerd pipe, mixed case":                     {ds: ro(`\\.\PIPE\CRI-Dockerd`), want: []expect{{ruleSocket, m0(), nil}}},
		"csi-proxy pipe prefix":                            {ds: ro(`\\.\pipe\csi-proxy-filesystem-v1`), want: []expect{{ruleControl, m0(), []string{`node control socket "\\.\pipe\csi-proxy-"`}}}},
		"pod resources pipe is fine":                       {ds: ro(`\\.\pipe\kubelet-pod-resources`)},
		"pki read":                                         {ds: ro(`C:\etc\kubernetes\pki`), want: []expect{{ruleCred, m0(), []string{`inside the credential path "c:\etc\kubernetes"`}}}},
		"forward-slash device path is still /etc to linux": {ds: rw(`//./etc`), want: []expect{{ruleCred, m0(), nil}, {ruleSensitive, m0(), []string{`host path "/etc"`}}}},
		"double slash etc is linux only":                   {ds: rw(`//etc/`), want: []expect{{ruleSensitive, m0(), []string{`host path "/etc" (volume`}}}},
	})
}

// Class 9: logs.
func TestLogPaths(t *testing.T) {
	runThreat(t, []string{rulePodLogs, ruleVarLog}, map[string]threatCase{
		"writable var log warns": {ds: rw("/var/log"),
			want: []expect{{ruleVarLog, m0(), []string{"the known /var/log symlink escape", "mount /var/log read-only", "/var/lib/fluent-bit"}}}},
		"read-only var log":            {ds: ro("/var/log")},
		"writable var log pods":        {ds: rw("/var/log/pods"), want: []expect{{rulePodLogs, m0(), []string{`which is the pod log directory "/var/log/pods"`, "set readOnly: true"}}}},
		"writable under var log pods":  {ds: rw("/var/log/pods/default_x_123"), want: []expect{{rulePodLogs, m0(), nil}}},
		"writable var log containers":  {ds: rw("/var/log/containers"), want: []expect{{rulePodLogs, m0(), nil}}},
		"read-only pod logs (Datadog)": {ds: ro("/var/log/pods")},
		"writable journal is fine":     {ds: rw("/var/log/journal")},
		"writable agent log dir":       {ds: rw("/var/log/agent")},
		"subPath back into pods": {
			ds:   []dstest.PodOpt{dstest.HostVolume("l", "/var/log"), dstest.Container("agent", dstest.Mount("l", "/l", dstest.SubPath("pods")))},
			want: []expect{{rulePodLogs, m0(), nil}}},
		"windows pod logs": {ds: rw(`C:\var\log\pods`), want: []expect{{rulePodLogs, m0(), nil}}},
	})
}
