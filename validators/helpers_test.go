package validators

import (
	"context"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Builders for the pod specs the tables below need. Each option edits the
// template's PodSpec, so a case reads like the YAML it stands for.

type podOpt func(*corev1.PodSpec)

type ctrOpt func(*corev1.Container)

type mountOpt func(*corev1.VolumeMount)

func daemonSet(opts ...podOpt) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default"}}
	for _, o := range opts {
		o(&ds.Spec.Template.Spec)
	}
	return ds
}

func hostPID(s *corev1.PodSpec) { s.HostPID = true }

func hostVolume(name, path string) podOpt {
	return func(s *corev1.PodSpec) {
		s.Volumes = append(s.Volumes, corev1.Volume{Name: name,
			VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}}})
	}
}

func emptyDirVolume(name string) podOpt {
	return func(s *corev1.PodSpec) {
		s.Volumes = append(s.Volumes, corev1.Volume{Name: name,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
}

func buildContainer(name string, opts []ctrOpt) corev1.Container {
	c := corev1.Container{Name: name, Image: "agent:1.0"}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func container(name string, opts ...ctrOpt) podOpt {
	return func(s *corev1.PodSpec) { s.Containers = append(s.Containers, buildContainer(name, opts)) }
}

func initContainer(name string, opts ...ctrOpt) podOpt {
	return func(s *corev1.PodSpec) { s.InitContainers = append(s.InitContainers, buildContainer(name, opts)) }
}

func ephemeralContainer(name string, opts ...ctrOpt) podOpt {
	return func(s *corev1.PodSpec) {
		c := buildContainer(name, opts)
		s.EphemeralContainers = append(s.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: c.Name, Image: c.Image, SecurityContext: c.SecurityContext, VolumeMounts: c.VolumeMounts,
			}})
	}
}

func tolerations(t ...corev1.Toleration) podOpt {
	return func(s *corev1.PodSpec) { s.Tolerations = append(s.Tolerations, t...) }
}

func mount(volume, at string, opts ...mountOpt) ctrOpt {
	return func(c *corev1.Container) {
		m := corev1.VolumeMount{Name: volume, MountPath: at}
		for _, o := range opts {
			o(&m)
		}
		c.VolumeMounts = append(c.VolumeMounts, m)
	}
}

func readOnly(m *corev1.VolumeMount) { m.ReadOnly = true }

func subPath(p string) mountOpt { return func(m *corev1.VolumeMount) { m.SubPath = p } }

func subPathExpr(p string) mountOpt { return func(m *corev1.VolumeMount) { m.SubPathExpr = p } }

func propagation(p corev1.MountPropagationMode) mountOpt {
	return func(m *corev1.VolumeMount) { m.MountPropagation = &p }
}

func securityContext(c *corev1.Container) *corev1.SecurityContext {
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	return c.SecurityContext
}

func privileged(on bool) ctrOpt {
	return func(c *corev1.Container) { securityContext(c).Privileged = &on }
}

func addCaps(caps ...string) ctrOpt {
	return func(c *corev1.Container) {
		sc := securityContext(c)
		if sc.Capabilities == nil {
			sc.Capabilities = &corev1.Capabilities{}
		}
		for _, x := range caps {
			sc.Capabilities.Add = append(sc.Capabilities.Add, corev1.Capability(x))
		}
	}
}

func dropCaps(caps ...string) ctrOpt {
	return func(c *corev1.Container) {
		sc := securityContext(c)
		if sc.Capabilities == nil {
			sc.Capabilities = &corev1.Capabilities{}
		}
		for _, x := range caps {
			sc.Capabilities.Drop = append(sc.Capabilities.Drop, corev1.Capability(x))
		}
	}
}

func seconds(s int64) *int64 { return &s }

// finding is one field error of one rule, as the policy sees it.
type finding struct {
	Rule, Field, Detail string
}

// expect is what a case wants: a rule firing at an exact field, with a
// message containing every one of msg.
type expect struct {
	rule, field string
	msg         []string
}

// runRules runs every rule over ds and returns all findings, sorted by rule
// and field.
func runRules(ds *appsv1.DaemonSet, opts Options) []finding {
	t := NewTarget(ds)
	var out []finding
	for _, d := range Registry() {
		for _, e := range d.New(opts).Validate(context.Background(), t) {
			out = append(out, finding{Rule: d.ID, Field: e.Field, Detail: e.Detail})
		}
	}
	sortFindings(out)
	return out
}

func sortFindings(f []finding) {
	sort.SliceStable(f, func(i, j int) bool {
		if f[i].Rule != f[j].Rule {
			return f[i].Rule < f[j].Rule
		}
		return f[i].Field < f[j].Field
	})
}

// assertFindings fails unless got holds exactly the findings in want.
func assertFindings(t *testing.T, got []finding, want []expect) {
	t.Helper()
	w := append([]expect(nil), want...)
	sort.SliceStable(w, func(i, j int) bool {
		if w[i].rule != w[j].rule {
			return w[i].rule < w[j].rule
		}
		return w[i].field < w[j].field
	})
	if len(got) != len(w) {
		t.Fatalf("got %d findings, want %d:\n%s", len(got), len(w), dump(got))
	}
	for i := range w {
		if got[i].Rule != w[i].rule || got[i].Field != w[i].field {
			t.Errorf("finding %d: got [%s] %s, want [%s] %s\nall:\n%s", i, got[i].Rule, got[i].Field, w[i].rule, w[i].field, dump(got))
			continue
		}
		for _, m := range w[i].msg {
			if !strings.Contains(got[i].Detail, m) {
				t.Errorf("finding %d [%s] %s: message %q does not contain %q", i, got[i].Rule, got[i].Field, got[i].Detail, m)
			}
		}
		if strings.Contains(got[i].Detail, "[") {
			// Details must carry no list indices, or ratcheting would
			// break when containers are reordered.
			t.Errorf("finding %d [%s]: message %q contains a list index", i, got[i].Rule, got[i].Detail)
		}
	}
}

func dump(f []finding) string {
	var b strings.Builder
	for _, x := range f {
		b.WriteString("  [" + x.Rule + "] " + x.Field + ": " + x.Detail + "\n")
	}
	return b.String()
}
