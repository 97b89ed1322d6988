package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/validators"
)

// FuzzParse checks that Parse never panics, returns a policy or an error but
// not both, and that every policy it accepts compiles and runs.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	const h = "apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n"
	for _, s := range []string{
		"", h, h + "exemptions: []\n", h + "validation: {sensitiveHostPaths: [], runtimeSockets: []}\n",
		h + "mutation: {resources: {requests: {cpu: 1e3}, cpuLimit: {enabled: true, minimum: 1Ki, requestMultiplier: 3}}}\n",
		h + "mutation: {resources: {memoryLimit: {minimum: 1Ei, requestMultiplier: 2147483647}, skipPriorityClasses: []}}\n",
		h + "mutation: {tolerations: {defaults: [{key: a, operator: Equal, value: b, effect: NoExecute, tolerationSeconds: -1}]}}\n",
		h + "exemptions: [{anyNamespace: true, selector: {matchExpressions: [{key: a, operator: NotIn, values: [b]}]}}]\n",
		h + "validation: {rules: {privileged-container: off, hostpid-privileged: audit}}\n",
		`{"apiVersion":"daemonguard.io/v1alpha1","kind":"Policy","exemptions":[{"namespaces":["a"],"rules":["resources"]}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := config.Parse(data)
		if (p == nil) == (err == nil) {
			t.Fatalf("Parse = %v, %v: want exactly one of a policy and an error", p, err)
		}
		if err != nil {
			return
		}
		// Rule ids and mutator names are checked where the policy is compiled.
		if _, err := policy.New(p, policy.Options{}); err != nil {
			if !strings.Contains(err.Error(), "invalid policy") {
				t.Fatalf("policy.New error %v does not say the policy is invalid", err)
			}
			return
		}
		if p.APIVersion != config.APIVersion || p.Kind != config.Kind {
			t.Fatalf("accepted apiVersion/kind %q/%q", p.APIVersion, p.Kind)
		}
		m := &p.Mutation
		if m.Tolerations.Enabled == nil || m.PriorityClass.Enabled == nil || m.Resources.Enabled == nil || m.PriorityClass.Name == "" {
			t.Fatalf("defaults not filled: %+v", m)
		}
		for id, a := range p.Validation.Rules {
			if _, ok := validators.Defaults()[id]; !ok {
				t.Fatalf("accepted unknown rule %q", id)
			}
			if _, err := config.ParseAction(string(a)); err != nil {
				t.Fatalf("accepted action %q for %s", a, id)
			}
		}
		for n, req := range m.Resources.Requests {
			if req.Sign() < 0 {
				t.Fatalf("accepted negative request %s", n)
			}
		}
		for i, e := range p.Exemptions {
			if len(e.Namespaces) == 0 && !(e.AnyNamespace && e.Selector != nil) {
				t.Fatalf("exemptions[%d] = %+v would match without a namespace or an explicit anyNamespace selector", i, e)
			}
		}
		again, err := config.Parse(data)
		if err != nil || !equality.Semantic.DeepEqual(p, again) {
			t.Fatalf("Parse is not deterministic: %v", err)
		}

		compiled, err := policy.New(p, policy.Options{OwnNamespace: "daemonguard"})
		if err != nil {
			t.Fatalf("policy.New refused a parsed policy: %v", err)
		}
		ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default", Labels: map[string]string{"a": "c"}}}
		ds.Spec.Template.Spec = corev1.PodSpec{
			Volumes: []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/run/docker.sock"}}}},
			Containers: []corev1.Container{{Name: "c", VolumeMounts: []corev1.VolumeMount{{Name: "v", MountPath: "/s"}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: *m.Resources.CPULimit.Minimum}}}},
		}
		compiled.Mutate(t.Context(), "default", ds)
		once := ds.DeepCopy()
		if mu := compiled.Mutate(t.Context(), "default", ds); len(mu.Changed) != 0 || !equality.Semantic.DeepEqual(once, ds) {
			t.Fatalf("policy does not converge: second pass changed %v", mu.Changed)
		}
		compiled.Validate(t.Context(), "default", ds.DeepCopy(), ds)
	})
}
