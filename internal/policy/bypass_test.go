package policy

import (
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/validators"
)

// TestBypassCorpus loads every DaemonSet in testdata/bypass, each trying one
// trick to get unsafe host access past the default policy, and checks that
// the rule named in its "# rule:" comment finds it with its default action
// (denies it, or for a rule that warns by default, warns), at the field
// named in its "# field:" comment, after mutation, as the webhook would see
// it. A file with an "# old:" comment is an UPDATE of the DaemonSet in that
// file (relative to testdata/bypass, outside the glob, and itself stored
// before the rules were enforced), so that ratcheting is tried too.
func TestBypassCorpus(t *testing.T) {
	known := validators.Defaults()
	eachCorpusFile(t, "bypass", func(t *testing.T, p *Policy, data []byte, head map[string]string) {
		rule, field := head["rule"], head["field"]
		def, ok := known[rule]
		if !ok {
			t.Fatalf("# rule: %q is not a rule id", rule)
		}
		if head["trick"] == "" || field == "" {
			t.Fatalf("file needs # trick:, # rule: and # field: comments")
		}
		want := actionOf(def)
		ds := dstest.FromYAML(t, data)
		ns := ds.Namespace
		if ns == "" {
			ns = "default"
		}
		var old *appsv1.DaemonSet
		if name := head["old"]; name != "" {
			oldData, err := os.ReadFile(filepath.Join("testdata", "bypass", name))
			if err != nil {
				t.Fatal(err)
			}
			old = dstest.FromYAML(t, oldData)
			p.Mutate(t.Context(), ns, old)
		}
		p.Mutate(t.Context(), ns, ds)
		v := p.Validate(t.Context(), ns, old, ds)
		if want == Deny && v.Allowed() {
			t.Fatalf("allowed; violations: %+v", v.Violations)
		}
		for _, x := range v.Violations {
			if x.Rule == rule && x.Action == want && x.Field == field {
				return
			}
		}
		t.Errorf("no %s from %s at %s; got %+v", want, rule, field, v.Violations)
	})
}

// TestEveryRuleHasCorpusFiles: every rule that judges the object alone has
// a bypass file it must find ("# rule:") and an allowed near miss it must
// stay silent on ("# near:"), so a new rule comes with both. The rules that
// read the cluster (its nodes, its PriorityClasses) find nothing without
// one; test/sim and the validators' node tests cover them.
func TestEveryRuleHasCorpusFiles(t *testing.T) {
	bypass, near := map[string]int{}, map[string]int{}
	for _, f := range dstest.Corpus(t, dstest.BypassDir) {
		bypass[f.Head["rule"]]++
	}
	for _, f := range dstest.Corpus(t, dstest.AllowedDir) {
		for _, r := range f.Rules("near") {
			near[r]++
		}
	}
	for _, d := range validators.Registry() {
		if d.ReadsCluster {
			continue
		}
		if bypass[d.ID] == 0 {
			t.Errorf("rule %s has no file in %s with \"# rule: %s\"", d.ID, dstest.BypassDir, d.ID)
		}
		if near[d.ID] == 0 {
			t.Errorf("rule %s has no near miss in %s with \"# near: %s\"", d.ID, dstest.AllowedDir, d.ID)
		}
	}
}

// eachCorpusFile runs visit, as a subtest, on every file of
// testdata/<dir> with its header comments, under the default policy.
func eachCorpusFile(t *testing.T, dir string, visit func(t *testing.T, p *Policy, data []byte, head map[string]string)) {
	t.Helper()
	files := dstest.Corpus(t, filepath.Join("internal/policy/testdata", dir))
	if len(files) < 20 {
		t.Fatalf("only %d files in testdata/%s", len(files), dir)
	}
	p, err := New(config.Defaults(), Options{OwnNamespace: "daemonguard"})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		t.Run(f.Name, func(t *testing.T) { visit(t, p, f.Data, f.Head) })
	}
}
