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
// the rule named in its "# rule:" comment denies it, at the field named in
// its "# field:" comment, after mutation, as the webhook would see it. A file
// with an "# old:" comment is an UPDATE of the DaemonSet in that file
// (relative to testdata/bypass, outside the glob, and itself stored before the
// rules were enforced), so that ratcheting is tried too.
func TestBypassCorpus(t *testing.T) {
	known := validators.Defaults()
	eachCorpusFile(t, "bypass", func(t *testing.T, p *Policy, data []byte, head map[string]string) {
		rule, field := head["rule"], head["field"]
		if _, ok := known[rule]; !ok {
			t.Fatalf("# rule: %q is not a rule id", rule)
		}
		if head["trick"] == "" || field == "" {
			t.Fatalf("file needs # trick:, # rule: and # field: comments")
		}
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
		if v.Allowed() {
			t.Fatalf("allowed; violations: %+v", v.Violations)
		}
		for _, x := range v.Violations {
			if x.Rule == rule && x.Action == Deny && x.Field == field {
				return
			}
		}
		t.Errorf("no deny from %s at %s; got %+v", rule, field, v.Violations)
	})
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
