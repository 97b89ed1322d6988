package chart

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/test/internal/manifests"
)

// Release is one rendering of the chart.
type Release struct {
	// Manifest is helm's output.
	Manifest []byte
	// Docs are the rendered objects in helm's order.
	Docs []Doc
}

// Doc is one rendered object.
type Doc struct {
	// Raw is the YAML document as helm wrote it.
	Raw []byte
	// Object is Raw strictly decoded into its Go type.
	Object client.Object
	GVK    schema.GroupVersionKind
}

// helm runs the helm binary in the repository root.
func helm(args ...string) ([]byte, error) {
	cmd := exec.Command(helmBin, args...)
	cmd.Dir = repoRoot
	// A private helm home: no user repositories, plugins or caches leak in.
	home, err := os.MkdirTemp("", "helm-home-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(home)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+home, "HELM_CACHE_HOME="+home, "HELM_DATA_HOME="+home)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// valuesFile writes values (YAML) to a file for helm's -f.
func valuesFile(t *testing.T, values string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "values.yaml")
	if err := os.WriteFile(path, []byte(values), 0o600); err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// renderErr renders the chart as hack/render-manifests.sh does, with values
// (YAML) on top of the defaults.
func renderErr(t *testing.T, values string) (*Release, error) {
	t.Helper()
	out, err := helm("template", releaseName, "deploy/helm/daemonguard", "--namespace", releaseNamespace, "-f", valuesFile(t, values))
	if err != nil {
		return nil, err
	}
	return decode(out)
}

// decode splits a multi-document manifest and strictly decodes every object
// into its Go type: unknown or duplicate fields and unknown kinds are errors.
func decode(out []byte) (*Release, error) {
	r := &Release{Manifest: out}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	docs, err := manifests.Documents(out)
	if err != nil {
		return nil, err
	}
	for _, raw := range docs {
		if isEmptyDoc(raw) {
			continue
		}
		obj, gvk, err := decoder.Decode(raw, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("strict decoding of a rendered object: %w\n%s", err, raw)
		}
		cobj, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("rendered %s is not an object", gvk)
		}
		r.Docs = append(r.Docs, Doc{Raw: raw, Object: cobj, GVK: *gvk})
	}
	return r, nil
}

// render is renderErr that fails the test on error.
func render(t *testing.T, values string) *Release {
	t.Helper()
	r, err := renderErr(t, values)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// isEmptyDoc reports whether a YAML document holds only comments.
func isEmptyDoc(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && line != "---" && !strings.HasPrefix(line, "#") {
			return false
		}
	}
	return true
}

// objectsOf returns the rendered objects of type T.
func objectsOf[T client.Object](r *Release) []T {
	var out []T
	for _, d := range r.Docs {
		if o, ok := d.Object.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

// object returns the rendered object of type T named name.
func object[T client.Object](t *testing.T, r *Release, name string) T {
	t.Helper()
	for _, o := range objectsOf[T](r) {
		if o.GetName() == name {
			return o
		}
	}
	var zero T
	t.Fatalf("no %T named %q rendered; rendered: %s", zero, name, r.kinds())
	return zero
}

// hasKind reports whether an object of kind was rendered.
func (r *Release) hasKind(kind string) bool {
	for _, d := range r.Docs {
		if d.GVK.Kind == kind {
			return true
		}
	}
	return false
}

func (r *Release) kinds() string {
	var s []string
	for _, d := range r.Docs {
		s = append(s, d.GVK.Kind+"/"+d.Object.GetName())
	}
	return strings.Join(s, ", ")
}

// dryRun applies every rendered object to the API server with server-side
// apply and dryRun=All: the API server validates it fully (schemas, CRD
// schemas, admission) and stores nothing.
func dryRun(ctx context.Context, t *testing.T, r *Release) {
	t.Helper()
	for _, d := range r.Docs {
		if d.GVK.Group == "monitoring.coreos.com" {
			// prometheus-operator's CRDs are not in a Go module this
			// repository requires; its Go type checked the object above.
			t.Logf("dry-run skips %s %s: no prometheus-operator CRDs in the test control plane", d.GVK.Kind, d.Object.GetName())
			continue
		}
		if err := dryRunDoc(ctx, d.Raw); err != nil {
			t.Errorf("server-side dry-run of %s %s: %v", d.GVK.Kind, d.Object.GetName(), err)
		}
	}
}

// dryRunDoc server-side applies one YAML document with dryRun=All.
func dryRunDoc(ctx context.Context, raw []byte) error {
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		return err
	}
	return apiServer.Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner("helm"), client.ForceOwnership, client.DryRunAll)
}

func createNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := apiServer.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating namespace %s: %w", name, err)
	}
	return nil
}
