package mutators

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

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
		New: func(o Options) Mutator { return NewTolerations(o.Tolerations) },
	}
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

// covered reports whether some toleration in have already tolerates every
// taint that want tolerates. tolerationSeconds is deliberately not compared:
// an author who bounded the time on a node chose that, and a second, unbounded
// toleration would silently override the choice.
func covered(have []corev1.Toleration, want *corev1.Toleration) bool {
	for i := range have {
		t := &have[i]
		if t.Effect != "" && t.Effect != want.Effect {
			continue
		}
		if t.Operator == corev1.TolerationOpExists {
			if t.Key == "" || t.Key == want.Key {
				return true
			}
			continue
		}
		// Equal (or empty, which means Equal) covers only the same value.
		if t.Key == want.Key && want.Operator != corev1.TolerationOpExists && t.Value == want.Value {
			return true
		}
	}
	return false
}
