package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/validators"
)

// TestAllowedCorpus loads every DaemonSet in testdata/allowed, each a safe
// look-alike of a bypass (what real agents do, or a near miss of a rule),
// and checks that the default policy admits it after mutation. A file may
// warn only through the rules its "# warns:" comment lists (comma
// separated), and each listed rule must warn, so the header stays true.
// "# why-allowed:" says why it is safe; the rules "# near:" lists are the
// ones it is a near miss of, and they must find nothing at all.
func TestAllowedCorpus(t *testing.T) {
	eachCorpusFile(t, "allowed", func(t *testing.T, p *Policy, data []byte, head map[string]string) {
		if head["why-allowed"] == "" {
			t.Fatal("file needs a # why-allowed: comment")
		}
		var warns []string
		for _, r := range strings.Split(head["warns"], ",") {
			if r = strings.TrimSpace(r); r != "" {
				warns = append(warns, r)
			}
		}
		ds := dstest.FromYAML(t, data)
		ns := ds.Namespace
		if ns == "" {
			ns = "default"
		}
		p.Mutate(t.Context(), ns, ds)
		v := p.Validate(t.Context(), ns, nil, ds)
		known := validators.Defaults()
		var near []string
		for _, r := range strings.Split(head["near"], ",") {
			if r = strings.TrimSpace(r); r != "" {
				if _, ok := known[r]; !ok {
					t.Errorf("# near: %q is not a rule id", r)
				}
				near = append(near, r)
			}
		}
		warned := map[string]bool{}
		for _, x := range v.Violations {
			switch {
			case x.Action == Deny:
				t.Errorf("denied: [%s] %s: %s", x.Rule, x.Field, x.Message)
			case x.Action == Warn && !slices.Contains(warns, x.Rule):
				t.Errorf("unexpected warning (list the rule in # warns: if it is meant): [%s] %s: %s", x.Rule, x.Field, x.Message)
			}
			if slices.Contains(near, x.Rule) {
				t.Errorf("# near: %s, which finds something: [%s] %s: %s", x.Rule, x.Rule, x.Field, x.Message)
			}
			warned[x.Rule] = true
		}
		for _, r := range warns {
			if !warned[r] {
				t.Errorf("# warns: names %s, which does not warn", r)
			}
		}
	})
}
