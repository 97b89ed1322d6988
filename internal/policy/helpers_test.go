package policy

import (
	"github.com/daemonguard/daemonguard/test/dstest"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonguard/daemonguard/internal/config"
)

const (
	ruleHostPIDWritable = "hostpid-writable-hostpath"
	ruleHostPIDPriv     = "hostpid-privileged"
	ruleSensitive       = "writable-sensitive-hostpath"
	ruleSocket          = "container-runtime-socket"
	rulePrivileged      = "privileged-container"
	ruleToleration      = "ineffective-toleration"
)

// parsePolicy parses a policy file body (apiVersion and kind are added) and
// compiles it.
func parsePolicy(t *testing.T, body string, opts Options) *Policy {
	t.Helper()
	cfg, err := config.Parse([]byte("apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n" + body))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	p, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// daemonSet decodes a DaemonSet from YAML, strictly.
func daemonSet(t *testing.T, y string) *appsv1.DaemonSet { return dstest.FromYAML(t, []byte(y)) }

// hostMountDS is a DaemonSet with one container mounting one host path, and
// labels on its own metadata.
func hostMountDS(name, path string, readOnly bool, labels map[string]string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "agent", Image: "agent:1.0",
				VolumeMounts: []corev1.VolumeMount{{Name: "host", MountPath: "/host", ReadOnly: readOnly}}}},
			Volumes: []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}}}},
		}}},
	}
}

// brief is a violation reduced to what the tables compare.
type brief struct {
	rule, action, field string
	ratcheted           bool
}

func briefs(v Verdict) []brief {
	var out []brief
	for _, x := range v.Violations {
		out = append(out, brief{x.Rule, x.Action, x.Field, x.Ratcheted})
	}
	sortBriefs(out)
	return out
}

func sortBriefs(b []brief) {
	sort.SliceStable(b, func(i, j int) bool {
		if b[i].rule != b[j].rule {
			return b[i].rule < b[j].rule
		}
		if b[i].field != b[j].field {
			return b[i].field < b[j].field
		}
		return !b[i].ratcheted && b[j].ratcheted
	})
}

func assertBriefs(t *testing.T, v Verdict, want []brief) {
	t.Helper()
	got := briefs(v)
	w := append([]brief(nil), want...)
	sortBriefs(w)
	if len(got) != len(w) {
		t.Fatalf("violations:\n%s\nwant:\n%s", fmtBriefs(got), fmtBriefs(w))
	}
	for i := range w {
		if got[i] != w[i] {
			t.Fatalf("violations:\n%s\nwant:\n%s", fmtBriefs(got), fmtBriefs(w))
		}
	}
}

func fmtBriefs(b []brief) string {
	var s strings.Builder
	for _, x := range b {
		s.WriteString("  " + x.action + " [" + x.rule + "] " + x.field)
		if x.ratcheted {
			s.WriteString(" (ratcheted)")
		}
		s.WriteString("\n")
	}
	return s.String()
}

func mutatorsRun(m Mutation) []string {
	var out []string
	for name := range m.ByMutator {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// mount0 is the field of the first container's first mount.
const mount0 = "spec.template.spec.containers[0].volumeMounts[0]"
