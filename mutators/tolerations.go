package mutators

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/mutators/patch"
)

// Tolerations adds the configured default tolerations that no existing
// toleration already covers.
type Tolerations struct{ defaults []corev1.Toleration }

// NewTolerations returns a mutator adding defaults. The config loader has
// already refused tolerations the DaemonSet controller manages itself.
func NewTolerations(defaults []corev1.Toleration) *Tolerations {
	return &Tolerations{defaults: defaults}
}

func defineTolerations() Definition {
	return Definition{
		Meta: Meta{
			Name:    TolerationsName,
			Summary: "adds the configured tolerations that no existing toleration covers",
			Writes:  []string{"spec.template.spec.tolerations"},
		},
		New:          func(o Options) Mutator { return NewTolerations(o.Tolerations) },
		Precondition: func(o Options) precondition.Cond { return uncovered(o.Tolerations) },
	}
}

// uncovered: some of defaults is covered by no toleration of the pod, in
// CEL what covers says in Go.
func uncovered(defaults []corev1.Toleration) precondition.Cond {
	var missing []precondition.Cond
	for i := range defaults {
		missing = append(missing, precondition.Atom(fmt.Sprintf("no toleration covering `%s`", describe(&defaults[i])),
			`!(`+precondition.AnyIn(precondition.Spec, "tolerations", "t", coversCEL(&defaults[i]))+`)`))
	}
	return precondition.Or(missing...)
}

// describe is a toleration as a taint, for the docs: key=value:Effect.
func describe(t *corev1.Toleration) string {
	s := t.Key
	if s == "" {
		s = "*"
	}
	if t.Value != "" {
		s += "=" + t.Value
	}
	if t.Effect != "" {
		s += ":" + string(t.Effect)
	}
	return s
}

// coversCEL is covers(t, want) over a toleration t of the object.
func coversCEL(want *corev1.Toleration) string {
	q := precondition.Quote
	effect := `(!has(t.effect) || t.effect == "" || t.effect == ` + q(string(want.Effect)) + `)`
	exists := `has(t.operator) && t.operator == "Exists" && (!has(t.key) || t.key == "" || t.key == ` + q(want.Key) + `)`
	if want.Operator != corev1.TolerationOpEqual && want.Operator != "" {
		return effect + ` && ` + exists
	}
	equal := `(!has(t.operator) || t.operator == "" || t.operator == "Equal") && has(t.key) && t.key != "" && t.key == ` + q(want.Key) +
		` && (has(t.value) ? t.value : "") == ` + q(want.Value)
	return effect + ` && ((` + exists + `) || (` + equal + `))`
}

// Mutate implements Mutator.
func (m *Tolerations) Mutate(_ context.Context, ds *appsv1.DaemonSet) Result {
	var res Result
	spec := &ds.Spec.Template.Spec
	list := podSpec().Child("tolerations")
	for _, want := range m.defaults {
		if covered(spec.Tolerations, &want) {
			continue
		}
		// A deep copy: the defaults belong to a Policy shared by concurrent
		// reviews, and must not alias fields (tolerationSeconds) of one object.
		added := want.DeepCopy()
		spec.Tolerations = append(spec.Tolerations, *added)
		res.Patch = append(res.Patch, patch.Add(list.Append(len(spec.Tolerations)-1), added))
	}
	return res
}

// Adds reports whether Mutate would add a toleration to ds.
func (m *Tolerations) Adds(ds *appsv1.DaemonSet) bool {
	for i := range m.defaults {
		if !covered(ds.Spec.Template.Spec.Tolerations, &m.defaults[i]) {
			return true
		}
	}
	return false
}

// covered reports whether some toleration in have already tolerates every
// taint that want tolerates: the same key (or an empty key with Exists), the
// same effect (or an empty effect, which matches every effect), and Exists,
// or Equal (an omitted operator means Equal) with the same value when want is
// Equal too. A numeric Lt/Gt toleration never covers: it tolerates only taints
// whose value parses as a number, and nothing at all where the cluster's
// TaintTolerationComparisonOperators feature is off.
// tolerationSeconds is deliberately not compared: an author who bounded the
// time on a node chose that, and a second, unbounded toleration would
// silently override the choice.
func covered(have []corev1.Toleration, want *corev1.Toleration) bool {
	for i := range have {
		if covers(&have[i], want) {
			return true
		}
	}
	return false
}

func covers(t, want *corev1.Toleration) bool {
	if t.Effect != "" && t.Effect != want.Effect {
		return false
	}
	switch t.Operator {
	case corev1.TolerationOpExists:
		return t.Key == "" || t.Key == want.Key
	case corev1.TolerationOpEqual, "":
		wantEqual := want.Operator == corev1.TolerationOpEqual || want.Operator == ""
		return t.Key != "" && t.Key == want.Key && wantEqual && t.Value == want.Value
	default:
		return false
	}
}
