package mutators

import (
	"context"
	"errors"
	"github.com/daemonguard/daemonguard/test/dstest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPriorityClass(t *testing.T) {
	one := int32(1)
	cases := map[string]struct {
		spec         corev1.PodSpec
		exists       bool
		err          error
		wantClass    string
		wantChanged  []string
		wantLookup   bool
		wantWarnings []string // substrings, one per warning
	}{
		"set when empty": {
			exists:      true,
			wantClass:   "infra-daemonset",
			wantChanged: []string{"spec.template.spec.priorityClassName"},
			wantLookup:  true,
		},
		"author's class untouched": {
			spec:      corev1.PodSpec{PriorityClassName: "system-node-critical"},
			exists:    true,
			wantClass: "system-node-critical",
		},
		"author's class untouched even when ours is missing": {
			spec:      corev1.PodSpec{PriorityClassName: "custom"},
			wantClass: "custom",
		},
		"explicit priority untouched": {
			spec:   corev1.PodSpec{Priority: &one},
			exists: true,
		},
		"class missing": {
			wantLookup: true,
			wantWarnings: []string{
				`priorityClassName was not set: PriorityClass "infra-daemonset" does not exist in this cluster`,
			},
		},
		"lookup error": {
			err:        errors.New("connection refused"),
			exists:     true,
			wantLookup: true,
			wantWarnings: []string{
				`priorityClassName was not set: could not check that PriorityClass "infra-daemonset" exists (connection refused)`,
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var asked []string
			m := NewPriorityClass("infra-daemonset", func(_ context.Context, n string) (bool, error) {
				asked = append(asked, n)
				return tc.exists, tc.err
			})
			if mutatorName(m) != "priority-class" {
				t.Errorf("Name() = %q", mutatorName(m))
			}
			ds := dstest.DaemonSet(dstest.Spec(tc.spec))
			r := m.Mutate(t.Context(), ds)
			assertStrings(t, "Changed", r.Changed(), tc.wantChanged)
			if got := ds.Spec.Template.Spec.PriorityClassName; got != tc.wantClass {
				t.Errorf("priorityClassName = %q, want %q", got, tc.wantClass)
			}
			if (tc.spec.Priority == nil) != (ds.Spec.Template.Spec.Priority == nil) {
				t.Errorf("priority changed to %v", ds.Spec.Template.Spec.Priority)
			}
			if tc.wantLookup {
				assertStrings(t, "lookups", asked, []string{"infra-daemonset"})
			} else if len(asked) != 0 {
				t.Errorf("looked up %q, want no lookup", asked)
			}
			if len(r.Warnings) != len(tc.wantWarnings) {
				t.Fatalf("Warnings = %q, want %d", r.Warnings, len(tc.wantWarnings))
			}
			for i, w := range tc.wantWarnings {
				if !strings.Contains(r.Warnings[i], w) {
					t.Errorf("warning %q does not contain %q", r.Warnings[i], w)
				}
			}
			assertConverged(t, m, ds)
		})
	}
}

func TestAssumeClassExists(t *testing.T) {
	ok, err := AssumeClassExists(t.Context(), "anything")
	if !ok || err != nil {
		t.Errorf("AssumeClassExists = %v, %v; want true, nil", ok, err)
	}
}

// TestRegistryNames: every mutator says what it fills in, and the names, in
// the order they run, are those of testdata/registry.golden (regenerate it
// with UPDATE_GOLDEN=1 when adding a mutator).
func TestRegistryNames(t *testing.T) {
	var names strings.Builder
	for _, d := range Registry() {
		names.WriteString(d.Name + "\n")
		if d.Summary == "" || len(d.Writes) == 0 || d.New == nil || d.Precondition == nil {
			t.Errorf("%s: registry entry needs a summary, the fields it writes, a constructor and a precondition", d.Name)
		}
	}
	dstest.Golden(t, "testdata/registry.golden", names.String())
}
