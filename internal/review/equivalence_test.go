package review

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
)

// Every example and every bypass-corpus DaemonSet, both ways: the typed
// object through the policy, and through Admit (decode, patch anchored to the
// JSON, patch applied, decode again) as `check` and the webhook do; the
// verdict must be the same, field for field. webhook's property test does
// the same for random objects through the HTTP handlers.
func TestAdmitEqualsPolicyOnExamples(t *testing.T) {
	var files []string
	for _, pattern := range []string{
		"../../deploy/examples/*.yaml", "../../deploy/examples/unsafe/*.yaml", "../policy/testdata/bypass/*.yaml",
	} {
		m, _ := filepath.Glob(pattern)
		files = append(files, m...)
	}
	if len(files) < 40 {
		t.Fatalf("only %d fixtures", len(files))
	}
	cfg, err := config.Parse([]byte("apiVersion: daemonguard.io/v1alpha1\nkind: Policy\nvalidation:\n  rules:\n    privileged-container: enforce\n    ineffective-toleration: audit\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.New(cfg, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			y, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			js, err := yaml.YAMLToJSON(y)
			if err != nil {
				t.Fatal(err)
			}
			var full appsv1.DaemonSet
			if err := json.Unmarshal(js, &full); err != nil {
				t.Fatal(err)
			}
			ns := full.Namespace
			if ns == "" {
				ns = "default"
			}
			mutation := p.Mutate(t.Context(), ns, &full)
			want := p.Validate(t.Context(), ns, nil, &full)

			a, err := Admit(t.Context(), p, ns, js, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a.Mutation.Mutation.Changed, mutation.Changed) {
				t.Errorf("mutation: slim %v, full %v", a.Mutation.Mutation.Changed, mutation.Changed)
			}
			if !reflect.DeepEqual(a.Validation.Verdict.Violations, want.Violations) {
				t.Errorf("verdict differs:\n slim %+v\n full %+v", a.Validation.Verdict.Violations, want.Violations)
			}
			// And the patched object is the fully mutated object.
			var patched appsv1.DaemonSet
			if err := json.Unmarshal(a.Object, &patched); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(patched.Spec, full.Spec) || !reflect.DeepEqual(patched.Annotations, full.Annotations) {
				t.Errorf("the patched object differs from the mutated object")
			}
		})
	}
}
