package validators

import (
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"
)

// TestSeedExamples runs every rule over the seed DaemonSets in
// deploy/examples: the realistic ones pass, the CNI installer's writable
// /etc/cni/net.d is caught, and the seed's tolerations warn.
func TestSeedExamples(t *testing.T) {
	cases := map[string]struct {
		want []expect
	}{
		// Admitted with a warning: as uid 65534 next to the host's
		// processes, it reaches every process running as 65534.
		"node-exporter.yaml": {want: []expect{
			{"hostpid-shared-uid", "spec.template.spec.hostPID", []string{`container "node-exporter" runs as uid 65534 and gid 65534`}},
		}},
		// Admitted with warnings: SYS_PTRACE next to the host's processes,
		// and a read-only / as a container that may run as root.
		"system-monitor.yaml": {want: []expect{
			{"hostpid-ptrace", c0 + ".securityContext.capabilities.add[0]", []string{`container "monitor" adds capability SYS_PTRACE`}},
			{"credential-ancestor-read", c0 + ".volumeMounts[2]", []string{`container "monitor" mounts host path "/" (volume "rootfs")`, `"/etc/kubernetes/admin.conf"`, "set runAsNonRoot: true"}},
			// A read-only "/" as root connects to every socket on the node.
			{"container-runtime-socket", c0 + ".volumeMounts[2]", []string{"may run as root"}},
			{"host-control-socket", c0 + ".volumeMounts[2]", []string{"may run as root"}},
			{"readonly-not-recursive", c0 + ".volumeMounts[0]", []string{`"/proc/sys/fs/binfmt_misc"`}},
			{"readonly-not-recursive", c0 + ".volumeMounts[1]", []string{`"/sys/kernel/tracing"`}},
			{"readonly-not-recursive", c0 + ".volumeMounts[2]", nil},
		}},
		"fluentbit.yaml":   {},
		"gpu-monitor.yaml": {},
		"ssd-cache.yaml":   {},
		"cni-plugin.yaml": {want: []expect{{ruleSensitive, i0 + ".volumeMounts[0]", []string{
			`container "install-cni" mounts host path "/opt/cni/bin" (volume "cni-bin") at "/host/opt/cni/bin" writable, which is the sensitive host path "/opt/cni/bin"`,
		}}, {ruleSensitive, i0 + ".volumeMounts[1]", []string{
			`container "install-cni" mounts host path "/etc/cni/net.d" (volume "cni-conf") at "/host/etc/cni/net.d" writable, which is inside the sensitive host path "/etc"`,
		}}, {ruleCred, "spec.template.spec.containers[0].volumeMounts[0]", []string{
			`container "cni-agent" mounts host path "/etc/cni/net.d"`, `which is the credential path "/etc/cni/net.d"`,
		}}, {ruleCred, i0 + ".volumeMounts[1]", nil}}},
		"tolerations.yaml": {want: []expect{
			{ruleToleration, tol + "[2].tolerationSeconds", []string{"node.kubernetes.io/not-ready"}},
			{ruleToleration, tol + "[3].tolerationSeconds", []string{"node.kubernetes.io/unreachable"}},
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ds := loadDaemonSet(t, filepath.Join("..", "deploy", "examples", name))
			assertFindings(t, runRules(ds, Options{}), tc.want)
		})
	}
}

func loadDaemonSet(t *testing.T, path string) *appsv1.DaemonSet {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ds := &appsv1.DaemonSet{}
	if err := yaml.UnmarshalStrict(data, ds); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if ds.Kind != "DaemonSet" {
		t.Fatalf("%s: kind %q, want DaemonSet", path, ds.Kind)
	}
	return ds
}
