package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/daemonguard/daemonguard/internal/config"
)

// TestGeneratedFilesAreCurrent fails when a file gendocs writes no longer
// matches the registries: run `go generate ./...` and commit the result.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	stale, err := run("../..", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Fatalf("stale generated files (run go generate ./...): %s", strings.Join(stale, ", "))
	}
}

func TestReplaceBlockNeedsMarkers(t *testing.T) {
	if _, err := replaceBlock([]byte("no markers\n"), "rules", "x"); err == nil {
		t.Fatal("replaceBlock accepted a file without the block's markers")
	}
	out, err := replaceBlock([]byte("a\n<!-- BEGIN GENERATED: r (note) -->\nold\n<!-- END GENERATED: r -->\nb\n"), "r", "new\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := "a\n<!-- BEGIN GENERATED: r (note) -->\nnew\n<!-- END GENERATED: r -->\nb\n"; string(out) != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

// TestSchemaEnumsFollowTheRegistry: dropping a rule id from the schema makes
// the file stale, so a registry change cannot leave the chart behind.
func TestSchemaEnumsFollowTheRegistry(t *testing.T) {
	doc := []byte(`{"properties": {"policy": {"properties": {
  "validation": {"properties": {"rules": {"propertyNames": {"enum": ["x"]}, "additionalProperties": {"enum": []}}}},
  "exemptions": {"items": {"properties": {"rules": {"items": {"enum": []}}}}}}}}}`)
	out, err := editSchema(doc)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"hostpid-privileged"`, `"enforce"`, `"priority-class"`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("edited schema lacks %s:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), `"x"`) {
		t.Errorf("edited schema kept the stale id:\n%s", out)
	}
}

// TestDefaultPolicyBlockIsTheDefaults: the README's built-in policy, pasted
// as a policy file, mutates exactly as config.Defaults() (its validation and
// exemptions spell out what the defaults leave implicit).
func TestDefaultPolicyBlockIsTheDefaults(t *testing.T) {
	block := strings.TrimSuffix(strings.TrimPrefix(defaultPolicy(), "```yaml\n"), "```\n")
	got, err := config.Parse([]byte(block))
	if err != nil {
		t.Fatalf("the README's default policy does not parse: %v\n%s", err, block)
	}
	g, _ := json.Marshal(got.Mutation)
	w, _ := json.Marshal(config.Defaults().Mutation)
	if string(g) != string(w) {
		t.Fatalf("the README's default policy is not the built-in one:\n got %s\nwant %s", g, w)
	}
}
