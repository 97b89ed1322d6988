// Package recipes tests the exemption recipes in deploy/recipes: each one
// admits the agent it is written for, and nothing else.
package recipes

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/review"
)

const dir = "../../deploy/recipes"

// recipes are the agents with a recipe; each has deploy/recipes/NAME.yaml
// (the exemption) and deploy/recipes/testdata/NAME.yaml (its DaemonSet).
var recipes = []string{
	"flannel", "calico", "cilium", "istio-cni", "linkerd-cni", "ceph-csi-rbd",
	"nvidia-device-plugin", "falco", "datadog-agent", "spire-agent", "longhorn",
}

func TestEveryRecipeIsListed(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	slices.Sort(names)
	want := slices.Sorted(slices.Values(recipes))
	if !slices.Equal(names, want) {
		t.Fatalf("deploy/recipes holds %v, the test knows %v", names, want)
	}
}

// TestRecipes: without its recipe the agent is denied; the recipe names
// exactly the rules that deny it under the current registry (computed, so
// the test follows new rules: a recipe missing a new rule's id fails here),
// is confined to the agent's namespace and name, admits it, and leaves a
// DaemonSet with the same access and labels but another name in the same
// namespace denied.
func TestRecipes(t *testing.T) {
	for _, name := range recipes {
		t.Run(name, func(t *testing.T) {
			exemption := readRecipe(t, name)
			ds, object := readDaemonSet(t, name)

			// Without the recipe: denied, by these rules.
			defaults := compile(t, nil)
			denied := deniedRules(t, defaults, ds.Namespace, object)
			if len(denied) == 0 {
				t.Fatalf("%s is admitted without its recipe: the recipe is not needed", name)
			}
			if got, want := slices.Sorted(slices.Values(exemption.Rules)), slices.Sorted(slices.Values(denied)); !slices.Equal(got, want) {
				t.Errorf("recipe rules %v, want exactly the rules that deny %s: %v", exemption.Rules, name, want)
			}

			// Scoped to the agent: its namespace and its name, nothing wider.
			if !slices.Equal(exemption.Namespaces, []string{ds.Namespace}) || exemption.AnyNamespace {
				t.Errorf("recipe namespaces %v (anyNamespace %v), want [%s]", exemption.Namespaces, exemption.AnyNamespace, ds.Namespace)
			}
			if !slices.Equal(exemption.DaemonSets, []string{ds.Name}) || exemption.Selector != nil {
				t.Errorf("recipe daemonSets %v, selector %v; want [%s] and no selector (the narrowest entry: check prints it)", exemption.DaemonSets, exemption.Selector, ds.Name)
			}
			if exemption.Reason == "" {
				t.Error("recipe has no reason")
			}

			// With the recipe (and the built-in kube-system entry kept): admitted.
			with := compile(t, exemption)
			if d := deniedRules(t, with, ds.Namespace, object); len(d) != 0 {
				t.Errorf("%s is still denied with its recipe, by %v", name, d)
			}
			matches := with.Exemptions(ds.Namespace, ds)
			if len(matches) != 1 || matches[0].Index != 1 {
				t.Errorf("exemptions matching %s: %+v, want only the recipe", name, matches)
			}

			// Not a DaemonSet with the same access and the same labels but
			// another name, next to it, nor one without labels.
			for _, labels := range []map[string]string{ds.Labels, nil} {
				impostor := ds.DeepCopy()
				impostor.Name, impostor.Labels = "impostor", labels
				if d := deniedRules(t, with, ds.Namespace, encode(t, impostor)); len(d) == 0 {
					t.Errorf("another DaemonSet in %s (labels %v) is admitted by the %s recipe", ds.Namespace, labels, name)
				}
			}
			// Nor the agent itself in another namespace.
			if d := deniedRules(t, with, "default", object); len(d) == 0 {
				t.Errorf("%s in namespace default is admitted by its recipe", name)
			}
		})
	}
}

// readRecipe reads the single exemption in deploy/recipes/NAME.yaml.
func readRecipe(t *testing.T, name string) *config.Exemption {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var list []config.Exemption
	if err := yaml.UnmarshalStrict(data, &list); err != nil {
		t.Fatalf("%s.yaml: %v", name, err)
	}
	if len(list) != 1 {
		t.Fatalf("%s.yaml holds %d exemptions, want 1", name, len(list))
	}
	return &list[0]
}

func readDaemonSet(t *testing.T, name string) (*appsv1.DaemonSet, []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "testdata", name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ds := &appsv1.DaemonSet{}
	if err := yaml.UnmarshalStrict(data, ds); err != nil {
		t.Fatalf("testdata/%s.yaml: %v", name, err)
	}
	return ds, encode(t, ds)
}

func encode(t *testing.T, ds *appsv1.DaemonSet) []byte {
	t.Helper()
	js, err := yaml.Marshal(ds)
	if err != nil {
		t.Fatal(err)
	}
	out, err := yaml.YAMLToJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compile is the built-in policy, plus e (after the kube-system entry,
// which an explicit list must restate) when set, parsed as a policy file.
func compile(t *testing.T, e *config.Exemption) *policy.Policy {
	t.Helper()
	file := "apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n"
	if e != nil {
		y, err := yaml.Marshal([]any{map[string]any{"namespaces": []string{"kube-system"}}, e})
		if err != nil {
			t.Fatal(err)
		}
		file += "exemptions:\n" + string(y)
	}
	cfg, err := config.Parse([]byte(file))
	if err != nil {
		t.Fatalf("the policy with the recipe does not load: %v", err)
	}
	p, err := policy.New(cfg, policy.Options{})
	if err != nil {
		t.Fatalf("the policy with the recipe does not compile: %v", err)
	}
	return p
}

// deniedRules takes the DaemonSet through both webhooks, as the API server
// (and check) does, and returns the rules that deny it.
func deniedRules(t *testing.T, p *policy.Policy, namespace string, object []byte) []string {
	t.Helper()
	a, err := review.Admit(context.Background(), p, namespace, object, nil)
	if err != nil {
		t.Fatal(err)
	}
	return a.Validation.Verdict.DeniedRules()
}
