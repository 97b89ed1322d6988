package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestReadmeDocumentsEveryValue: the chart README's values table has a row
// for every value in values.yaml (a row for a map documents all of it), no
// row for a value that does not exist, and every default written as JSON in
// backticks is the actual default.
func TestReadmeDocumentsEveryValue(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n## Values\n")
	if !ok {
		t.Fatal("README.md has no \"## Values\" section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| ([^|]*) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		documented[m[1]] = strings.TrimSpace(m[2])
	}

	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(path string, v any)
	walk = func(path string, v any) {
		if def, ok := documented[path]; ok {
			seen[path] = true
			checkDefault(t, path, def, v)
			return
		}
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			for k, child := range m {
				walk(strings.TrimPrefix(path+"."+k, "."), child)
			}
			return
		}
		t.Errorf("value %s is not in the README's values table", path)
	}
	walk("", values)
	for path := range documented {
		if !seen[path] {
			t.Errorf("README documents %s, which values.yaml does not have", path)
		}
	}
}

// checkDefault compares a default written as `JSON` with the value.
func checkDefault(t *testing.T, path, cell string, v any) {
	t.Helper()
	if !strings.HasPrefix(cell, "`") || !strings.HasSuffix(cell, "`") {
		return // described in words
	}
	var doc any
	if err := json.Unmarshal([]byte(strings.Trim(cell, "`")), &doc); err != nil {
		t.Errorf("README default of %s is not JSON: %s", path, cell)
		return
	}
	if !reflect.DeepEqual(doc, v) {
		got, _ := json.Marshal(v)
		t.Errorf("README default of %s is %s; values.yaml has %s", path, cell, got)
	}
}
