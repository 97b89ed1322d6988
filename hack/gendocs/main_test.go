package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/validators"
)

// TestGeneratedFilesAreCurrent fails when a file gendocs writes no longer
// matches the registries: run `go generate ./...` and commit the result.
func TestGeneratedFilesAreCurrent(t *testing.T) {
	stale, err := run("../..", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Fatalf("stale generated files: %s\nrun: go generate ./...   (or make generate), and commit the result", strings.Join(stale, ", "))
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

// TestDefaultPolicyBlockIsTheDefaults: the README's built-in policy, pasted
// as a policy file, mutates exactly as config.Defaults() (its validation and
// exemptions spell out what the defaults leave implicit).
func TestDefaultPolicyBlockIsTheDefaults(t *testing.T) {
	d, err := readDocs("../..")
	if err != nil {
		t.Fatal(err)
	}
	text, err := defaultPolicy(policyModel(d))
	if err != nil {
		t.Fatal(err)
	}
	block := strings.TrimSuffix(strings.TrimPrefix(text, "```yaml\n"), "```\n")
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

// TestEveryPolicyFieldIsDocumented: the doc comments of the config types
// are the description of every setting in values.yaml, the chart README and
// the schema, so a field without one would appear there unexplained.
func TestEveryPolicyFieldIsDocumented(t *testing.T) {
	d, err := readDocs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if missing := policyModel(d).undocumented(); len(missing) > 0 {
		t.Errorf("policy fields without a doc comment in internal/config: %s", strings.Join(missing, ", "))
	}
}

// TestBuiltinListsAreSpelledOut: a validation setting that replaces a
// rules' list (a field of the same name in validators.Options) shows the
// built-in list in the README's default policy, so validators.BuiltinOptions
// must say what it is.
func TestBuiltinListsAreSpelledOut(t *testing.T) {
	v := reflect.ValueOf(config.Defaults().Validation)
	opts := reflect.TypeFor[validators.Options]()
	builtin := reflect.ValueOf(validators.BuiltinOptions())
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		f := v.Field(i)
		if f.Kind() != reflect.Slice || !f.IsNil() {
			continue
		}
		if _, ok := opts.FieldByName(name); !ok {
			continue
		}
		if b := builtin.FieldByName(name); b.IsNil() {
			t.Errorf("validators.BuiltinOptions() leaves %s nil: set it to the rules' built-in list (empty if there is none)", name)
		}
	}
	p := effectiveDefaults()
	if len(p.Validation.SensitiveHostPaths) == 0 || len(p.Validation.Rules) != len(validators.Registry()) {
		t.Errorf("effective defaults lack the built-in lists or rules: %+v", p.Validation)
	}
}

// TestFillBuiltins: a nil list takes the built-in list of the same name and
// type, or an empty one; a set list is kept.
func TestFillBuiltins(t *testing.T) {
	type settings struct {
		A, B, C []string
		M       map[string]int
	}
	type builtins struct {
		A []string
		B []int
	}
	s := settings{C: []string{"kept"}}
	fillBuiltins(reflect.ValueOf(&s).Elem(), reflect.ValueOf(builtins{A: []string{"a"}, B: []int{1}}))
	if !reflect.DeepEqual(s, settings{A: []string{"a"}, B: []string{}, C: []string{"kept"}, M: map[string]int{}}) {
		t.Errorf("filled %+v", s)
	}
}

// TestSpliceConditions: the validating webhook's matchConditions in a
// rendered manifest follow the chart's file, as helm would render them,
// and nothing else in the file changes.
func TestSpliceConditions(t *testing.T) {
	manifest := "kind: MutatingWebhookConfiguration\nwebhooks:\n  - name: m\n    matchConditions:\n      - old\n---\n" +
		"kind: ValidatingWebhookConfiguration\nwebhooks:\n  - name: v\n    matchConditions:\n      # old\n      - expression: old\n      \n\n---\nkind: Other\n"
	out, err := spliceConditions([]byte(manifest), []byte("# new\n- expression: new\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := "kind: MutatingWebhookConfiguration\nwebhooks:\n  - name: m\n    matchConditions:\n      - old\n---\n" +
		"kind: ValidatingWebhookConfiguration\nwebhooks:\n  - name: v\n    matchConditions:\n      # new\n      - expression: new\n      \n\n---\nkind: Other\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if _, err := spliceConditions([]byte("kind: ValidatingWebhookConfiguration\n"), nil); err == nil {
		t.Error("a manifest without the conditions was accepted")
	}
}
