package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/mutators"
	"github.com/daemonguard/daemonguard/validators"
)

// policyFile returns the policy file the chart renders into its ConfigMap,
// checking that the pods load it from where it is mounted.
func policyFile(t *testing.T, r *Release) []byte {
	t.Helper()
	cm := object[*corev1.ConfigMap](t, r, fullname+"-policy")
	d, c := deployment(t, r, fullname)
	path := args(c)["config"]
	dir, file := filepath.Split(path)
	var volume string
	for _, m := range c.VolumeMounts {
		if filepath.Clean(m.MountPath) == filepath.Clean(dir) {
			if m.SubPath != "" {
				t.Errorf("policy mounted with subPath: ConfigMap updates would never reach the pods")
			}
			volume = m.Name
		}
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == volume && (v.ConfigMap == nil || v.ConfigMap.Name != cm.Name) {
			t.Errorf("--config=%s is in volume %s, not ConfigMap %s", path, volume, cm.Name)
		}
	}
	if volume == "" {
		t.Fatalf("--config=%s: nothing mounted at %s", path, dir)
	}
	data, ok := cm.Data[file]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s (--config=%s)", cm.Name, file, path)
	}
	return []byte(data)
}

// TestPolicyDefaults: the chart's default policy is the binary's built-in
// one, decoded by the binary's own strict parser.
func TestPolicyDefaults(t *testing.T) {
	data := policyFile(t, render(t, ""))
	got, err := config.Parse(data)
	if err != nil {
		t.Fatalf("the binary rejects the chart's default policy: %v\n%s", err, data)
	}
	want := config.Defaults()
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("chart default policy differs from config.Defaults():\n got %s\nwant %s", jsonOf(got), jsonOf(want))
	}
	// Exactly, not just semantically: no empty map or list where the
	// binary has none.
	if jsonOf(got) != jsonOf(want) {
		t.Errorf("chart default policy encodes differently from config.Defaults():\n got %s\nwant %s", jsonOf(got), jsonOf(want))
	}
}

// TestPolicyValues: values map onto the policy file field by field.
func TestPolicyValues(t *testing.T) {
	r := render(t, variants(t)["policy"])
	p, err := config.Parse(policyFile(t, r))
	if err != nil {
		t.Fatalf("the binary rejects the rendered policy: %v", err)
	}
	if p.Mutation.PriorityClass.Name != "node-agents" || *p.Mutation.Resources.Enabled {
		t.Errorf("mutation = %s", jsonOf(p.Mutation))
	}
	wantRules := map[string]config.Action{"privileged-container": config.Enforce, "ineffective-toleration": config.Off}
	if !reflect.DeepEqual(p.Validation.Rules, wantRules) {
		t.Errorf("rules = %v, want %v", p.Validation.Rules, wantRules)
	}
	if len(p.Exemptions) != 2 || !slices.Equal(p.Exemptions[0].Namespaces, []string{"kube-system", "monitoring"}) ||
		p.Exemptions[1].Selector == nil || p.Exemptions[1].Reason != "migrating" {
		t.Errorf("exemptions = %s", jsonOf(p.Exemptions))
	}
	// The PriorityClass the chart creates is the one the mutator injects.
	object[*schedulingv1.PriorityClass](t, r, "node-agents")
}

// TestSchemaKnowsEveryRule: values.schema.json accepts exactly the rule ids,
// actions and mutator names the binary knows, so the schema never rejects a
// valid policy nor lets a typo through to a crash-looping pod.
func TestSchemaKnowsEveryRule(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Properties struct {
			Policy struct {
				Properties struct {
					Validation struct {
						Properties struct {
							Rules struct {
								PropertyNames        struct{ Enum []string }
								AdditionalProperties struct{ Enum []string }
							}
						}
					}
					Exemptions struct {
						Items struct {
							Properties struct {
								Rules struct{ Items struct{ Enum []string } }
							}
						}
					}
				}
			}
		}
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	rules := s.Properties.Policy.Properties.Validation.Properties.Rules
	var ids []string
	for id := range validators.Defaults() {
		ids = append(ids, id)
	}
	if got, want := slices.Sorted(slices.Values(rules.PropertyNames.Enum)), slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
		t.Errorf("schema rule ids %v, binary %v", got, want)
	}
	actions := []string{string(config.Audit), string(config.Enforce), string(config.Off), string(config.Warn)}
	if got := slices.Sorted(slices.Values(rules.AdditionalProperties.Enum)); !slices.Equal(got, actions) {
		t.Errorf("schema actions %v, binary %v", got, actions)
	}
	for _, d := range mutators.Registry() {
		ids = append(ids, d.Name)
	}
	exemptable := slices.Sorted(slices.Values(ids))
	if got := slices.Sorted(slices.Values(s.Properties.Policy.Properties.Exemptions.Items.Properties.Rules.Items.Enum)); !slices.Equal(got, exemptable) {
		t.Errorf("schema exemption rules %v, binary %v", got, exemptable)
	}
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
