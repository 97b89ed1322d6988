package validators

import (
	"context"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// finding is one field error of one rule, as the policy sees it.
type finding struct {
	Rule, Field, Detail string
}

// expect is what a case wants: a rule firing at an exact field, with a
// message containing every one of msg.
type expect struct {
	rule, field string
	msg         []string
}

// runRules runs every rule over ds and returns all findings, sorted by rule
// and field.
func runRules(ds *appsv1.DaemonSet, opts Options) []finding {
	t := NewTarget(ds)
	var out []finding
	for _, d := range Registry() {
		for _, e := range d.New(opts).Validate(context.Background(), t) {
			out = append(out, finding{Rule: d.ID, Field: e.Field, Detail: e.Detail})
		}
	}
	sortFindings(out)
	return out
}

func sortFindings(f []finding) {
	sort.SliceStable(f, func(i, j int) bool {
		if f[i].Rule != f[j].Rule {
			return f[i].Rule < f[j].Rule
		}
		return f[i].Field < f[j].Field
	})
}

// assertFindings fails unless got holds exactly the findings in want.
func assertFindings(t *testing.T, got []finding, want []expect) {
	t.Helper()
	w := append([]expect(nil), want...)
	sort.SliceStable(w, func(i, j int) bool {
		if w[i].rule != w[j].rule {
			return w[i].rule < w[j].rule
		}
		return w[i].field < w[j].field
	})
	if len(got) != len(w) {
		t.Fatalf("got %d findings, want %d:\n%s", len(got), len(w), dump(got))
	}
	for i := range w {
		if got[i].Rule != w[i].rule || got[i].Field != w[i].field {
			t.Errorf("finding %d: got [%s] %s, want [%s] %s\nall:\n%s", i, got[i].Rule, got[i].Field, w[i].rule, w[i].field, dump(got))
			continue
		}
		for _, m := range w[i].msg {
			if !strings.Contains(got[i].Detail, m) {
				t.Errorf("finding %d [%s] %s: message %q does not contain %q", i, got[i].Rule, got[i].Field, got[i].Detail, m)
			}
		}
		if strings.Contains(got[i].Detail, "[") {
			// Details must carry no list indices, or ratcheting would
			// break when containers are reordered.
			t.Errorf("finding %d [%s]: message %q contains a list index", i, got[i].Rule, got[i].Detail)
		}
	}
}

func dump(f []finding) string {
	var b strings.Builder
	for _, x := range f {
		b.WriteString("  [" + x.Rule + "] " + x.Field + ": " + x.Detail + "\n")
	}
	return b.String()
}
