package mutators

import (
	"context"
	"fmt"
	"slices"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/mutators/patch"
)

// Tolerations adds the configured default tolerations that no existing
// toleration already covers.
type Tolerations struct {
	defaults []corev1.Toleration
	// nodes lists the cluster's nodes, whose taints say which taints a
	// default is really needed for; nil offline.
	nodes NodeLister
}

// NodeLister lists the cluster's nodes (the webhook's informer cache). The
// nodes are shared: read them only.
type NodeLister func(ctx context.Context) ([]*corev1.Node, error)

// NewTolerations returns a mutator adding defaults. The config loader has
// already refused tolerations the DaemonSet controller manages itself.
// nodes, when set, are the cluster's nodes (see Mutate).
func NewTolerations(defaults []corev1.Toleration, nodes NodeLister) *Tolerations {
	return &Tolerations{defaults: defaults, nodes: nodes}
}

func defineTolerations() Definition {
	return Definition{
		Meta: Meta{
			Name:    TolerationsName,
			Summary: "adds the configured tolerations that no existing toleration covers",
			Writes:  []string{"spec.template.spec.tolerations"},
		},
		New:          func(o Options) Mutator { return NewTolerations(o.Tolerations, o.Nodes) },
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

// Mutate implements Mutator. A default is added only where the pod's own
// tolerations leave a taint it is meant for untolerated. The taints it is
// meant for are the ones it tolerates that the cluster's nodes carry, plus
// the one it is written for: its key, its value (none for Exists: kubeadm
// sets node-role.kubernetes.io/control-plane:NoSchedule without a value)
// and its effect (each one when it names none). Offline, and when no node
// carries such a taint, that assumed taint is all there is: an author's
// toleration without an operator (Equal) and without a value tolerates
// kubeadm's control-plane taint, so no second one is added beside it.
func (m *Tolerations) Mutate(ctx context.Context, ds *appsv1.DaemonSet) Result {
	var res Result
	spec := &ds.Spec.Template.Spec
	list := podSpec().Child("tolerations")
	for _, want := range m.missing(ctx, spec.Tolerations) {
		// A deep copy: the defaults belong to a Policy shared by concurrent
		// reviews, and must not alias fields (tolerationSeconds) of one object.
		added := want.DeepCopy()
		spec.Tolerations = append(spec.Tolerations, *added)
		res.Patch = append(res.Patch, patch.Add(list.Append(len(spec.Tolerations)-1), added))
	}
	return res
}

// Adds reports whether Mutate would add a toleration to ds.
func (m *Tolerations) Adds(ctx context.Context, ds *appsv1.DaemonSet) bool {
	return len(m.missing(ctx, ds.Spec.Template.Spec.Tolerations)) > 0
}

// missing are the defaults have leaves some taint untolerated for. The
// nodes are listed only when a default is not covered outright, which an
// admitted DaemonSet's own tolerations usually are.
func (m *Tolerations) missing(ctx context.Context, have []corev1.Toleration) []*corev1.Toleration {
	var out []*corev1.Toleration
	var taints []corev1.Taint
	listed := false
	for i := range m.defaults {
		want := &m.defaults[i]
		if covered(have, want) {
			continue
		}
		if !listed && m.nodes != nil {
			taints, listed = m.nodeTaints(ctx), true
		}
		if !toleratesAll(have, meantFor(want, taints)) {
			out = append(out, want)
			// A later default an earlier one covers is not added twice.
			have = append(slices.Clip(have), *want)
		}
	}
	return out
}

// nodeTaints are the distinct taints of the cluster's nodes. A node list
// that cannot be read leaves the assumed taints alone (as offline).
func (m *Tolerations) nodeTaints(ctx context.Context) []corev1.Taint {
	nodes, err := m.nodes(ctx)
	if err != nil {
		return nil
	}
	var out []corev1.Taint
	seen := map[string]bool{}
	for _, n := range nodes {
		for _, t := range n.Spec.Taints {
			k := t.Key + "=" + t.Value + ":" + string(t.Effect)
			if !seen[k] {
				seen[k] = true
				out = append(out, corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
			}
		}
	}
	return out
}

// meantFor are the taints the default want is meant for: the one assumed
// (its key and value, each effect it names) and those of nodeTaints it
// tolerates.
func meantFor(want *corev1.Toleration, nodeTaints []corev1.Taint) []corev1.Taint {
	value := want.Value
	if want.Operator == corev1.TolerationOpExists {
		value = ""
	}
	effects := []corev1.TaintEffect{want.Effect}
	if want.Effect == "" {
		effects = []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}
	}
	var out []corev1.Taint
	for _, e := range effects {
		out = append(out, corev1.Taint{Key: want.Key, Value: value, Effect: e})
	}
	for i := range nodeTaints {
		if tolerates(want, &nodeTaints[i]) {
			out = append(out, nodeTaints[i])
		}
	}
	return out
}

// toleratesAll reports whether every taint is tolerated by some of have.
func toleratesAll(have []corev1.Toleration, taints []corev1.Taint) bool {
	for i := range taints {
		ok := false
		for j := range have {
			if tolerates(&have[j], &taints[i]) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// tolerates is corev1.Toleration.ToleratesTaint with the numeric Lt/Gt
// operators counted as tolerating nothing (the feature gate may be off,
// and no configured default uses them).
func tolerates(t *corev1.Toleration, taint *corev1.Taint) bool {
	if t.Effect != "" && t.Effect != taint.Effect {
		return false
	}
	if t.Key != "" && t.Key != taint.Key {
		return false
	}
	switch t.Operator {
	case corev1.TolerationOpExists:
		return true
	case corev1.TolerationOpEqual, "":
		return t.Value == taint.Value
	default:
		return false
	}
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
