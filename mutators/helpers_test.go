package mutators

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
)

func q(s string) resource.Quantity { return resource.MustParse(s) }

func rl(kv ...string) corev1.ResourceList {
	if len(kv) == 0 {
		return nil
	}
	l := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		l[corev1.ResourceName(kv[i])] = q(kv[i+1])
	}
	return l
}

// assertConverged runs m again over ds and fails if anything changes.
func assertConverged(t *testing.T, m Mutator, ds *appsv1.DaemonSet) {
	t.Helper()
	before := ds.DeepCopy()
	r := m.Mutate(t.Context(), ds)
	if len(r.Changed()) != 0 {
		t.Errorf("second %s pass changed %v", mutatorName(m), r.Changed())
	}
	if !equality.Semantic.DeepEqual(before, ds) {
		t.Errorf("second %s pass modified the object:\nbefore %+v\nafter  %+v", mutatorName(m), before.Spec.Template.Spec, ds.Spec.Template.Spec)
	}
}

func assertStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %q, want %q", what, got, want)
		return
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s = %q, want %q", what, got, want)
			return
		}
	}
}

// assertList fails unless got has exactly the quantities in want (compared
// by value, not by spelling).
func assertList(t *testing.T, what string, got, want corev1.ResourceList) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
		return
	}
	for n, w := range want {
		g, ok := got[n]
		if !ok || g.Cmp(w) != 0 {
			t.Errorf("%s[%s] = %v (set %v), want %v", what, n, g.String(), ok, w.String())
		}
	}
}

// mutatorName is m's name in the registry.
func mutatorName(m Mutator) string {
	for _, d := range Registry() {
		if reflect.TypeOf(d.New(Options{})) == reflect.TypeOf(m) {
			return d.Name
		}
	}
	return ""
}
