// Package dstest builds the DaemonSets and admission reviews daemonguard's
// tests need, so that every package's tables read alike and none keeps its
// own copy of the builders.
package dstest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Builders for pod specs. Each option edits the
// template's PodSpec, so a case reads like the YAML it stands for.

// PodOpt edits a pod spec.
type PodOpt func(*corev1.PodSpec)

// CtrOpt edits a container.
type CtrOpt func(*corev1.Container)

// MountOpt edits a volume mount.
type MountOpt func(*corev1.VolumeMount)

// DaemonSet is a DaemonSet "agent" in "default" whose pod spec the options build.
func DaemonSet(opts ...PodOpt) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default"}}
	for _, o := range opts {
		o(&ds.Spec.Template.Spec)
	}
	return ds
}

func HostPID(s *corev1.PodSpec) { s.HostPID = true }

func HostVolume(name, path string) PodOpt {
	return func(s *corev1.PodSpec) {
		s.Volumes = append(s.Volumes, corev1.Volume{Name: name,
			VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}}})
	}
}

func EmptyDirVolume(name string) PodOpt {
	return func(s *corev1.PodSpec) {
		s.Volumes = append(s.Volumes, corev1.Volume{Name: name,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
}

func buildContainer(name string, opts []CtrOpt) corev1.Container {
	c := corev1.Container{Name: name, Image: "agent:1.0"}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func Container(name string, opts ...CtrOpt) PodOpt {
	return func(s *corev1.PodSpec) { s.Containers = append(s.Containers, buildContainer(name, opts)) }
}

func InitContainer(name string, opts ...CtrOpt) PodOpt {
	return func(s *corev1.PodSpec) { s.InitContainers = append(s.InitContainers, buildContainer(name, opts)) }
}

func EphemeralContainer(name string, opts ...CtrOpt) PodOpt {
	return func(s *corev1.PodSpec) {
		c := buildContainer(name, opts)
		s.EphemeralContainers = append(s.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: c.Name, Image: c.Image, SecurityContext: c.SecurityContext, VolumeMounts: c.VolumeMounts,
			}})
	}
}

func Tolerations(t ...corev1.Toleration) PodOpt {
	return func(s *corev1.PodSpec) { s.Tolerations = append(s.Tolerations, t...) }
}

func Mount(volume, at string, opts ...MountOpt) CtrOpt {
	return func(c *corev1.Container) {
		m := corev1.VolumeMount{Name: volume, MountPath: at}
		for _, o := range opts {
			o(&m)
		}
		c.VolumeMounts = append(c.VolumeMounts, m)
	}
}

func ReadOnly(m *corev1.VolumeMount) { m.ReadOnly = true }

func SubPath(p string) MountOpt { return func(m *corev1.VolumeMount) { m.SubPath = p } }

func SubPathExpr(p string) MountOpt { return func(m *corev1.VolumeMount) { m.SubPathExpr = p } }

func Propagation(p corev1.MountPropagationMode) MountOpt {
	return func(m *corev1.VolumeMount) { m.MountPropagation = &p }
}

func securityContext(c *corev1.Container) *corev1.SecurityContext {
	if c.SecurityContext == nil {
		c.SecurityContext = &corev1.SecurityContext{}
	}
	return c.SecurityContext
}

func Privileged(on bool) CtrOpt {
	return func(c *corev1.Container) { securityContext(c).Privileged = &on }
}

func AddCaps(caps ...string) CtrOpt {
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

func DropCaps(caps ...string) CtrOpt {
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

func Seconds(s int64) *int64 { return &s }

// FromYAML decodes a DaemonSet from YAML, strictly, so that a misspelt field
// cannot make a case pass for the wrong reason.
func FromYAML(tb testing.TB, y []byte) *appsv1.DaemonSet {
	tb.Helper()
	ds := &appsv1.DaemonSet{}
	if err := yaml.UnmarshalStrict(y, ds); err != nil {
		tb.Fatalf("fixture: %v\n%s", err, y)
	}
	return ds
}

// RepoRoot is the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// ExampleJSON reads a file under deploy/examples as the JSON the API server
// sends.
func ExampleJSON(tb testing.TB, name string) []byte {
	tb.Helper()
	y, err := os.ReadFile(filepath.Join(RepoRoot(), "deploy", "examples", name))
	if err != nil {
		tb.Fatal(err)
	}
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		tb.Fatal(err)
	}
	return j
}

// ReviewUID is the uid of every review ReviewBody builds.
const ReviewUID = "7f0b2f2a-0000-4000-8000-000000000001"

// ReviewBody is the AdmissionReview the API server sends for op (CREATE or
// UPDATE) of a DaemonSet in namespace, as kube-apiserver 1.37 writes it.
// A nil object or old is left out.
func ReviewBody(tb testing.TB, op admissionv1.Operation, namespace string, object, old []byte) []byte {
	tb.Helper()
	kind := metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}
	resource := metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}
	req := &admissionv1.AdmissionRequest{
		UID: ReviewUID, Kind: kind, Resource: resource, RequestKind: &kind, RequestResource: &resource,
		Namespace: namespace, Name: "x", Operation: op,
	}
	req.UserInfo.Username = "alice"
	if object != nil {
		req.Object.Raw = object
	}
	if old != nil {
		req.OldObject.Raw = old
	}
	body, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request:  req,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// Spec replaces the whole pod spec.
func Spec(spec corev1.PodSpec) PodOpt { return func(s *corev1.PodSpec) { *s = spec } }

// ManyContainers has n containers, each mounting its own hostPath volume
// read-only, and none of the defaults: every container gets requests and a
// memory limit, every mount is checked.
func ManyContainers(n int) *appsv1.DaemonSet {
	var opts []PodOpt
	for i := range n {
		vol := fmt.Sprintf("data-%d", i)
		opts = append(opts,
			HostVolume(vol, fmt.Sprintf("/opt/agent-data/%d", i)),
			Container(fmt.Sprintf("agent-%d", i), Mount(vol, "/data", ReadOnly)))
	}
	ds := DaemonSet(opts...)
	ds.APIVersion, ds.Kind = "apps/v1", "DaemonSet"
	ds.Name = fmt.Sprintf("agent-%d", n)
	labels := map[string]string{"app": ds.Name}
	ds.Spec.Selector = &metav1.LabelSelector{MatchLabels: labels}
	ds.Spec.Template.Labels = labels
	for i := range ds.Spec.Template.Spec.Containers {
		ds.Spec.Template.Spec.Containers[i].Image = "registry.k8s.io/pause:3.10"
	}
	return ds
}

// Valid is a minimal DaemonSet the API server accepts: name and namespace,
// a selector and template labels app=name, one container "agent" (agent:1);
// the options then edit its pod spec. The suites that send DaemonSets to a
// real API server build theirs with it.
func Valid(namespace, name string, opts ...PodOpt) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	ds := &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "agent", Image: "agent:1"}}},
			},
		},
	}
	for _, o := range opts {
		if o != nil {
			o(&ds.Spec.Template.Spec)
		}
	}
	return ds
}
