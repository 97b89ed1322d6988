package mutators

import (
	"context"
	"errors"
	"github.com/daemonguard/daemonguard/test/dstest"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
)

// byteReader hands out fuzz bytes as small choices; past the end it returns 0.
type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) next() byte {
	if r.i >= len(r.b) {
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *byteReader) choose(n int) int { return int(r.next()) % n }

func (r *byteReader) flag() bool { return r.next()&1 == 1 }

var fuzzResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage, "example.com/widget"}

// quantity is a fuzzed quantity in one of several spellings, so that equal
// values written differently (100m, 0.1) meet in comparisons.
func (r *byteReader) quantity() resource.Quantity {
	v := int64(r.next())
	switch r.choose(4) {
	case 0:
		return *resource.NewMilliQuantity(v*10, resource.DecimalSI)
	case 1:
		return *resource.NewQuantity(v, resource.DecimalSI)
	case 2:
		return *resource.NewQuantity(v<<20, resource.BinarySI)
	default:
		return *resource.NewScaledQuantity(v, resource.Kilo)
	}
}

func (r *byteReader) resourceList() corev1.ResourceList {
	var l corev1.ResourceList
	for _, n := range fuzzResources {
		if r.flag() {
			if l == nil {
				l = corev1.ResourceList{}
			}
			l[n] = r.quantity()
		}
	}
	return l
}

var (
	fuzzKeys      = []string{"node-role.kubernetes.io/control-plane", "", "dedicated", "example.com/maintenance"}
	fuzzOperators = []corev1.TolerationOperator{corev1.TolerationOpExists, corev1.TolerationOpEqual, "", corev1.TolerationOpLt, corev1.TolerationOpGt}
	fuzzEffects   = []corev1.TaintEffect{"", corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule}
	fuzzValues    = []string{"", "infra", "monitoring"}
)

func (r *byteReader) toleration() corev1.Toleration {
	t := corev1.Toleration{
		Key:      fuzzKeys[r.choose(len(fuzzKeys))],
		Operator: fuzzOperators[r.choose(len(fuzzOperators))],
		Effect:   fuzzEffects[r.choose(len(fuzzEffects))],
	}
	if t.Operator != corev1.TolerationOpExists {
		t.Value = fuzzValues[r.choose(len(fuzzValues))]
	}
	if r.flag() {
		s := int64(r.next())
		t.TolerationSeconds = &s
	}
	return t
}

type fuzzCase struct {
	ds       *appsv1.DaemonSet
	mutators []Mutator
	defaults []corev1.Toleration
	limits   map[corev1.ResourceName]LimitRule
	skip     []string
}

func buildFuzzCase(data []byte) fuzzCase {
	r := &byteReader{b: data}
	spec := corev1.PodSpec{}
	for range r.choose(3) {
		spec.InitContainers = append(spec.InitContainers, corev1.Container{Name: "init",
			Resources: corev1.ResourceRequirements{Requests: r.resourceList(), Limits: r.resourceList()}})
	}
	for range 1 + r.choose(3) {
		spec.Containers = append(spec.Containers, corev1.Container{Name: "main",
			Resources: corev1.ResourceRequirements{Requests: r.resourceList(), Limits: r.resourceList()}})
	}
	for range r.choose(4) {
		spec.Tolerations = append(spec.Tolerations, r.toleration())
	}
	if r.choose(8) == 0 {
		spec.Resources = &corev1.ResourceRequirements{Limits: r.resourceList()}
	}
	switch r.choose(4) {
	case 0:
		spec.PriorityClassName = "author-class"
	case 1:
		spec.PriorityClassName = "system-node-critical"
	}
	if r.choose(4) == 0 {
		p := int32(r.next())
		spec.Priority = &p
	}
	var defaults []corev1.Toleration
	for range r.choose(3) {
		d := r.toleration()
		if d.Key == "" {
			// The config refuses empty-key defaults.
			d.Key, d.Operator = "example.com/default", corev1.TolerationOpExists
		}
		if d.Operator == corev1.TolerationOpLt || d.Operator == corev1.TolerationOpGt {
			d.Operator = corev1.TolerationOpEqual // the config refuses numeric defaults
		}
		if d.Effect != corev1.TaintEffectNoExecute {
			d.TolerationSeconds = nil
		}
		if d.Operator == corev1.TolerationOpExists {
			d.Value = ""
		}
		defaults = append(defaults, d)
	}
	limitRules := map[corev1.ResourceName]LimitRule{}
	for _, n := range fuzzResources {
		if r.flag() {
			min := r.quantity()
			if min.Sign() <= 0 {
				min = *resource.NewQuantity(1, resource.DecimalSI) // the config refuses a zero minimum
			}
			limitRules[n] = LimitRule{Minimum: min, Multiplier: int64(2 + r.choose(3))}
		}
	}
	var skip []string
	if r.flag() {
		skip = []string{"system-node-critical", "author-class"}
	}
	var lookup ClassLookup
	switch r.choose(3) {
	case 0:
		lookup = AssumeClassExists
	case 1:
		lookup = func(context.Context, string) (bool, error) { return false, nil }
	default:
		lookup = func(context.Context, string) (bool, error) { return false, errors.New("timeout") }
	}
	return fuzzCase{
		ds:       dstest.DaemonSet(dstest.Spec(spec)),
		defaults: defaults,
		mutators: []Mutator{
			NewTolerations(defaults, nil),
			NewPriorityClass("infra-daemonset", lookup),
			NewResources(r.resourceList(), limitRules, skip),
		},
		limits: limitRules,
		skip:   skip,
	}
}

// FuzzMutateConverges builds DaemonSets and mutator defaults from fuzzed
// bytes and checks that every mutator fills only what is missing, never
// leaves a request above a limit it chose, covers every default toleration,
// and converges: a second pass changes nothing.
func FuzzMutateConverges(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{2, 3, 1, 200, 1, 0, 7, 1, 9, 1, 255, 2, 1, 3, 0, 0, 3, 1, 1, 2, 0, 1, 30})
	f.Add([]byte{1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte("requests above limits, limits below requests, every toleration"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c := buildFuzzCase(data)
		author := c.ds.DeepCopy()
		for _, m := range c.mutators {
			m.Mutate(t.Context(), c.ds)
		}
		spec, before := &c.ds.Spec.Template.Spec, &author.Spec.Template.Spec

		// Never overrides what the author set.
		if before.PriorityClassName != "" && spec.PriorityClassName != before.PriorityClassName {
			t.Fatalf("priorityClassName %q overrode %q", spec.PriorityClassName, before.PriorityClassName)
		}
		if before.Priority != nil && before.PriorityClassName == "" && spec.PriorityClassName != "" {
			t.Fatalf("priorityClassName %q set next to priority %d", spec.PriorityClassName, *before.Priority)
		}
		if len(spec.Tolerations) < len(before.Tolerations) ||
			!equality.Semantic.DeepEqual(spec.Tolerations[:len(before.Tolerations)], before.Tolerations) {
			t.Fatalf("author tolerations changed (-author +after):\n%s", dstest.Diff(before.Tolerations, spec.Tolerations[:min(len(spec.Tolerations), len(before.Tolerations))]))
		}
		for i := range c.defaults {
			if !covered(spec.Tolerations, &c.defaults[i]) {
				t.Fatalf("default %+v not covered by %+v", c.defaults[i], spec.Tolerations)
			}
		}
		if !equality.Semantic.DeepEqual(spec.Resources, before.Resources) {
			t.Fatalf("pod-level resources changed (-author +after):\n%s", dstest.Diff(before.Resources, spec.Resources))
		}
		skipped := slices.Contains(c.skip, before.PriorityClassName) && before.PriorityClassName != ""
		check := func(kind string, got, was []corev1.Container) {
			for i := range got {
				g, w := &got[i].Resources, &was[i].Resources
				if before.Resources != nil && !equality.Semantic.DeepEqual(g, w) {
					t.Fatalf("%s[%d]: resources set next to pod-level resources", kind, i)
				}
				if skipped && !equality.Semantic.DeepEqual(g, w) {
					t.Fatalf("%s[%d]: resources set at skipped class %s", kind, i, before.PriorityClassName)
				}
				for n, q := range w.Requests {
					if gq := g.Requests[n]; gq.Cmp(q) != 0 {
						t.Fatalf("%s[%d]: author request %s %s became %s", kind, i, n, q.String(), gq.String())
					}
				}
				for n, q := range w.Limits {
					if gq := g.Limits[n]; gq.Cmp(q) != 0 {
						t.Fatalf("%s[%d]: author limit %s %s became %s", kind, i, n, q.String(), gq.String())
					}
				}
				for n, req := range g.Requests {
					_, authorReq := w.Requests[n]
					_, authorLim := w.Limits[n]
					if authorReq && authorLim {
						continue // the author's own pair, for the API server to judge
					}
					if lim, ok := g.Limits[n]; ok && req.Cmp(lim) > 0 {
						t.Fatalf("%s[%d]: request %s %s > limit %s", kind, i, n, req.String(), lim.String())
					}
				}
				// An injected limit is at least its minimum and its multiple of
				// the request, so it is never pinned to a non-zero request.
				for n, lim := range g.Limits {
					if _, authorLim := w.Limits[n]; authorLim {
						continue
					}
					rule, ok := c.limits[n]
					if !ok {
						t.Fatalf("%s[%d]: limit %s injected without a rule", kind, i, n)
					}
					if lim.Cmp(rule.Minimum) < 0 {
						t.Fatalf("%s[%d]: injected limit %s %s below the minimum %s", kind, i, n, lim.String(), rule.Minimum.String())
					}
					if req, ok := g.Requests[n]; ok {
						scaled := req.DeepCopy()
						scaled.Mul(rule.Multiplier)
						if lim.Cmp(scaled) < 0 || (req.Sign() > 0 && lim.Cmp(req) <= 0) {
							t.Fatalf("%s[%d]: injected limit %s %s not above %d× the request %s", kind, i, n, lim.String(), rule.Multiplier, req.String())
						}
					}
				}
			}
		}
		check("containers", spec.Containers, before.Containers)
		check("initContainers", spec.InitContainers, before.InitContainers)

		// Converges.
		once := c.ds.DeepCopy()
		for _, m := range c.mutators {
			if r := m.Mutate(t.Context(), c.ds); len(r.Changed()) != 0 {
				t.Fatalf("second %s pass changed %v", mutatorName(m), r.Changed())
			}
		}
		if !equality.Semantic.DeepEqual(once, c.ds) {
			t.Fatalf("second pass modified the object (-first +second):\n%s", dstest.Diff(once, c.ds))
		}
	})
}
