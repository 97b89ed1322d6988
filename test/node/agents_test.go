package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
)

// recipesDir holds the exemption recipes (NAME.yaml) and their agents
// (testdata/NAME.yaml).
const recipesDir = "../../deploy/recipes"

// recipeExemptions are the exemptions of deploy/recipes, each as written.
func recipeExemptions() ([]config.Exemption, error) {
	files, err := filepath.Glob(filepath.Join(recipesDir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	var out []config.Exemption
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var list []config.Exemption
		if err := yaml.UnmarshalStrict(b, &list); err != nil {
			return nil, err
		}
		for i := range list {
			if !strings.HasPrefix(list[i].Reason, "recipe ") {
				list[i].Reason = "recipe " + filepath.Base(f) + ": " + list[i].Reason
			}
		}
		out = append(out, list...)
	}
	return out, nil
}

func clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(nd.Config)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
