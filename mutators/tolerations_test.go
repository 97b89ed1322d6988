package mutators

import (
	"context"
	"errors"
	"testing"

	"github.com/daemonguard/daemonguard/test/dstest"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/klog/v2"
)

func TestTolerations(t *testing.T) {
	const cp = "node-role.kubernetes.io/control-plane"
	exists, equal := corev1.TolerationOpExists, corev1.TolerationOpEqual
	noSched, noExec, prefer := corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule
	controlPlane := corev1.Toleration{Key: cp, Operator: exists, Effect: noSched}
	sixty := int64(60)

	cases := map[string]struct {
		defaults    []corev1.Toleration
		have        []corev1.Toleration
		wantAdded   []corev1.Toleration
		wantChanged []string
	}{
		"none present": {
			defaults:    []corev1.Toleration{controlPlane},
			wantAdded:   []corev1.Toleration{controlPlane},
			wantChanged: []string{"spec.template.spec.tolerations[0]"},
		},
		"appended after unrelated tolerations": {
			defaults:    []corev1.Toleration{controlPlane},
			have:        []corev1.Toleration{{Key: "a", Operator: exists}, {Key: "b", Operator: equal, Value: "x", Effect: noSched}},
			wantAdded:   []corev1.Toleration{controlPlane},
			wantChanged: []string{"spec.template.spec.tolerations[2]"},
		},
		"already present exactly": {
			defaults: []corev1.Toleration{controlPlane},
			have:     []corev1.Toleration{controlPlane},
		},
		"empty key Exists covers everything": {
			defaults: []corev1.Toleration{controlPlane, {Key: "x", Operator: equal, Value: "v", Effect: noExec}, {Key: "y", Operator: exists}},
			have:     []corev1.Toleration{{Operator: exists}},
		},
		"empty key Exists with matching effect covers": {
			defaults: []corev1.Toleration{controlPlane},
			have:     []corev1.Toleration{{Operator: exists, Effect: noSched}},
		},
		"empty key Exists with another effect does not cover": {
			defaults:    []corev1.Toleration{controlPlane},
			have:        []corev1.Toleration{{Operator: exists, Effect: noExec}},
			wantAdded:   []corev1.Toleration{controlPlane},
			wantChanged: []string{"spec.template.spec.tolerations[1]"},
		},
		"same key Exists without effect covers": {
			defaults: []corev1.Toleration{controlPlane},
			have:     []corev1.Toleration{{Key: cp, Operator: exists}},
		},
		"same key Exists with another effect does not cover": {
			defaults:    []corev1.Toleration{controlPlane},
			have:        []corev1.Toleration{{Key: cp, Operator: exists, Effect: prefer}},
			wantAdded:   []corev1.Toleration{controlPlane},
			wantChanged: []string{"spec.template.spec.tolerations[1]"},
		},
		// Updated (issue 20): this added a second control-plane toleration
		// beside one that already tolerates the taint kubeadm sets, which has
		// no value; 4 of 95 real agents got one. Without node taints the
		// default is judged against that assumed taint.
		"same key Equal with empty value tolerates the control-plane taint": {
			defaults: []corev1.Toleration{controlPlane},
			have:     []corev1.Toleration{{Key: cp, Operator: equal, Effect: noSched}},
		},
		"same key, operator omitted, empty value, no effect tolerates it too": {
			defaults: []corev1.Toleration{controlPlane},
			have:     []corev1.Toleration{{Key: cp}},
		},
		"same key Equal with a value does not tolerate the valueless taint": {
			defaults:    []corev1.Toleration{controlPlane},
			have:        []corev1.Toleration{{Key: cp, Operator: equal, Value: "true", Effect: noSched}},
			wantAdded:   []corev1.Toleration{controlPlane},
			wantChanged: []string{"spec.template.spec.tolerations[1]"},
		},
		"a default without effect is meant for every effect": {
			defaults:    []corev1.Toleration{{Key: cp, Operator: exists}},
			have:        []corev1.Toleration{{Key: cp, Effect: noSched}},
			wantAdded:   []corev1.Toleration{{Key: cp, Operator: exists}},
			wantChanged: []string{"spec.template.spec.tolerations[1]"},
		},
		"other key Exists does not cover": {
			defaults:    []corev1.Toleration{controlPlane},
			have:        []corev1.Toleration{{Key: "node-role.kubernetes.io/master", Operator: exists, Effect: noSched}},
			wantAdded:   []corev1.Toleration{controlPlane},
			wantChanged: []string{"spec.template.spec.tolerations[1]"},
		},
		"Equal default covered by the same value": {
			defaults: []corev1.Toleration{{Key: "dedicated", Operator: equal, Value: "infra", Effect: noSched}},
			have:     []corev1.Toleration{{Key: "dedicated", Operator: equal, Value: "infra", Effect: noSched}},
		},
		"Equal default covered by an empty operator with the same value": {
			defaults: []corev1.Toleration{{Key: "dedicated", Operator: equal, Value: "infra", Effect: noSched}},
			have:     []corev1.Toleration{{Key: "dedicated", Value: "infra", Effect: noSched}},
		},
		"Equal default covered by Exists on the key": {
			defaults: []corev1.Toleration{{Key: "dedicated", Operator: equal, Value: "infra", Effect: noSched}},
			have:     []corev1.Toleration{{Key: "dedicated", Operator: exists}},
		},
		"Equal default not covered by another value": {
			defaults:    []corev1.Toleration{{Key: "dedicated", Operator: equal, Value: "infra", Effect: noSched}},
			have:        []corev1.Toleration{{Key: "dedicated", Operator: equal, Value: "monitoring", Effect: noSched}},
			wantAdded:   []corev1.Toleration{{Key: "dedicated", Operator: equal, Value: "infra", Effect: noSched}},
			wantChanged: []string{"spec.template.spec.tolerations[1]"},
		},
		"default for every effect is not covered by one effect": {
			defaults:    []corev1.Toleration{{Key: "dedicated", Operator: exists}},
			have:        []corev1.Toleration{{Key: "dedicated", Operator: exists, Effect: noSched}},
			wantAdded:   []corev1.Toleration{{Key: "dedicated", Operator: exists}},
			wantChanged: []string{"spec.template.spec.tolerations[1]"},
		},
		"author toleration with tolerationSeconds counts as covering": {
			defaults: []corev1.Toleration{{Key: "example.com/maintenance", Operator: exists, Effect: noExec}},
			have:     []corev1.Toleration{{Key: "example.com/maintenance", Operator: exists, Effect: noExec, TolerationSeconds: &sixty}},
		},
		"several defaults, indices follow the appends": {
			defaults:    []corev1.Toleration{controlPlane, {Key: "dedicated", Operator: exists, Effect: noSched}},
			have:        []corev1.Toleration{{Key: "a", Operator: exists, Effect: noSched}},
			wantAdded:   []corev1.Toleration{controlPlane, {Key: "dedicated", Operator: exists, Effect: noSched}},
			wantChanged: []string{"spec.template.spec.tolerations[1]", "spec.template.spec.tolerations[2]"},
		},
		"a default covered by an earlier default is added once": {
			defaults:    []corev1.Toleration{{Key: cp, Operator: exists}, controlPlane},
			wantAdded:   []corev1.Toleration{{Key: cp, Operator: exists}},
			wantChanged: []string{"spec.template.spec.tolerations[0]"},
		},
		"duplicate defaults are added once": {
			defaults:    []corev1.Toleration{controlPlane, controlPlane},
			wantAdded:   []corev1.Toleration{controlPlane},
			wantChanged: []string{"spec.template.spec.tolerations[0]"},
		},
		"default tolerationSeconds is copied": {
			defaults:    []corev1.Toleration{{Key: "example.com/flaky", Operator: exists, Effect: noExec, TolerationSeconds: &sixty}},
			wantAdded:   []corev1.Toleration{{Key: "example.com/flaky", Operator: exists, Effect: noExec, TolerationSeconds: &sixty}},
			wantChanged: []string{"spec.template.spec.tolerations[0]"},
		},
		"Gt with the same value does not cover Equal": {
			defaults:    []corev1.Toleration{{Key: "example.com/tier", Operator: equal, Value: "2", Effect: noSched}},
			have:        []corev1.Toleration{{Key: "example.com/tier", Operator: corev1.TolerationOpGt, Value: "2", Effect: noSched}},
			wantAdded:   []corev1.Toleration{{Key: "example.com/tier", Operator: equal, Value: "2", Effect: noSched}},
			wantChanged: []string{"spec.template.spec.tolerations[1]"},
		},
		"Lt does not cover Exists": {
			defaults:    []corev1.Toleration{{Key: "example.com/tier", Operator: exists, Effect: noSched}},
			have:        []corev1.Toleration{{Key: "example.com/tier", Operator: corev1.TolerationOpLt, Value: "100", Effect: noSched}},
			wantAdded:   []corev1.Toleration{{Key: "example.com/tier", Operator: exists, Effect: noSched}},
			wantChanged: []string{"spec.template.spec.tolerations[1]"},
		},
		"default with the operator omitted is covered by Equal with the same value": {
			defaults: []corev1.Toleration{{Key: "dedicated", Value: "infra", Effect: noSched}},
			have:     []corev1.Toleration{{Key: "dedicated", Operator: equal, Value: "infra", Effect: noSched}},
		},
		"default with the operator omitted is not covered by another value": {
			defaults:    []corev1.Toleration{{Key: "dedicated", Value: "infra", Effect: noSched}},
			have:        []corev1.Toleration{{Key: "dedicated", Value: "", Effect: noSched}},
			wantAdded:   []corev1.Toleration{{Key: "dedicated", Value: "infra", Effect: noSched}},
			wantChanged: []string{"spec.template.spec.tolerations[1]"},
		},
		"same key Equal with another effect does not cover": {
			defaults:    []corev1.Toleration{{Key: "dedicated", Operator: equal, Value: "infra", Effect: noSched}},
			have:        []corev1.Toleration{{Key: "dedicated", Operator: equal, Value: "infra", Effect: noExec}},
			wantAdded:   []corev1.Toleration{{Key: "dedicated", Operator: equal, Value: "infra", Effect: noSched}},
			wantChanged: []string{"spec.template.spec.tolerations[1]"},
		},
		"Equal without effect covers Equal with an effect": {
			defaults: []corev1.Toleration{{Key: "dedicated", Operator: equal, Value: "infra", Effect: noSched}},
			have:     []corev1.Toleration{{Key: "dedicated", Value: "infra"}},
		},
		"no defaults": {
			have: []corev1.Toleration{{Key: "a", Operator: exists}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := NewTolerations(tc.defaults, nil)
			if mutatorName(m) != "tolerations" {
				t.Errorf("Name() = %q", mutatorName(m))
			}
			have := make([]corev1.Toleration, len(tc.have))
			copy(have, tc.have)
			ds := dstest.DaemonSet(dstest.Spec(corev1.PodSpec{Tolerations: have}))
			r := m.Mutate(t.Context(), ds)
			assertStrings(t, "Changed", r.Changed(), tc.wantChanged)
			if len(r.Warnings) != 0 {
				t.Errorf("Warnings = %q", r.Warnings)
			}
			want := append(append([]corev1.Toleration(nil), tc.have...), tc.wantAdded...)
			if len(want) == 0 {
				want = nil
			}
			if got := ds.Spec.Template.Spec.Tolerations; !equality.Semantic.DeepEqual(got, want) {
				t.Errorf("tolerations = %+v, want %+v", got, want)
			}
			assertConverged(t, m, ds)
		})
	}
}

// TestTolerationsDoNotAlias checks that an injected toleration shares nothing
// with the mutator's defaults: a Policy is shared by concurrent reviews.
func TestTolerationsDoNotAlias(t *testing.T) {
	sixty := int64(60)
	m := NewTolerations([]corev1.Toleration{{Key: "example.com/flaky", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: &sixty}}, nil)
	ds := dstest.DaemonSet(dstest.Spec(corev1.PodSpec{}))
	m.Mutate(t.Context(), ds)
	*ds.Spec.Template.Spec.Tolerations[0].TolerationSeconds = 1
	if sixty != 60 {
		t.Fatalf("writing the mutated object changed the mutator's default to %d", sixty)
	}
	other := dstest.DaemonSet(dstest.Spec(corev1.PodSpec{}))
	m.Mutate(t.Context(), other)
	if got := *other.Spec.Template.Spec.Tolerations[0].TolerationSeconds; got != 60 {
		t.Errorf("next object got tolerationSeconds %d, want 60", got)
	}
}

// TestCoveredMatchesToleratesTaint checks covers against the scheduler's own
// matching: an existing toleration covers a default exactly when it
// tolerates every taint the default tolerates (with numeric comparison
// operators off, as the feature gate may be).
func TestCoveredMatchesToleratesTaint(t *testing.T) {
	keys := []string{"", "node-role.kubernetes.io/control-plane", "dedicated"}
	ops := []corev1.TolerationOperator{corev1.TolerationOpExists, corev1.TolerationOpEqual, "", corev1.TolerationOpLt, corev1.TolerationOpGt}
	values := []string{"", "infra", "2"}
	effects := []corev1.TaintEffect{"", corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute, corev1.TaintEffectPreferNoSchedule}
	var tols []corev1.Toleration
	for _, k := range keys {
		for _, op := range ops {
			for _, v := range values {
				for _, e := range effects {
					if op == corev1.TolerationOpExists && v != "" || k == "" && op != corev1.TolerationOpExists {
						continue // refused by API validation
					}
					tols = append(tols, corev1.Toleration{Key: k, Operator: op, Value: v, Effect: e})
				}
			}
		}
	}
	// The taints a toleration can tolerate here: every key and value above,
	// one more of each, and every concrete effect.
	var taints []corev1.Taint
	for _, k := range append(keys[1:], "other") {
		for _, v := range append(values, "other", "3") {
			for _, e := range effects[1:] {
				taints = append(taints, corev1.Taint{Key: k, Value: v, Effect: e})
			}
		}
	}
	logger := klog.Background()
	for i := range tols {
		want := &tols[i]
		if want.Key == "" || want.Operator == corev1.TolerationOpLt || want.Operator == corev1.TolerationOpGt {
			continue // the config refuses these as defaults
		}
		for j := range tols {
			have := &tols[j]
			model := true
			for k := range taints {
				if want.ToleratesTaint(logger, &taints[k], true) && !have.ToleratesTaint(logger, &taints[k], false) {
					model = false
					break
				}
			}
			if got := covers(have, want); got != model {
				t.Errorf("covers(%+v, %+v) = %v, want %v", *have, *want, got, model)
			}
		}
	}
}

// TestTolerationsJudgedAgainstTheNodes: with the cluster's nodes known, a
// default is added when a node carries a taint it is meant for (it
// tolerates it) that the pod's own tolerations leave untolerated, and not
// otherwise.
func TestTolerationsJudgedAgainstTheNodes(t *testing.T) {
	cp := "node-role.kubernetes.io/control-plane"
	def := []corev1.Toleration{{Key: cp, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	equalEmpty := []corev1.Toleration{{Key: cp, Effect: corev1.TaintEffectNoSchedule}}
	node := func(taints ...corev1.Taint) *corev1.Node {
		return &corev1.Node{Spec: corev1.NodeSpec{Taints: taints}}
	}
	cases := map[string]struct {
		nodes []*corev1.Node
		err   error
		have  []corev1.Toleration
		adds  bool
	}{
		"kubeadm's valueless taint: the author's toleration suffices": {
			nodes: []*corev1.Node{node(corev1.Taint{Key: cp, Effect: corev1.TaintEffectNoSchedule}), node()},
			have:  equalEmpty,
		},
		"a control-plane taint with a value: the author's does not tolerate it": {
			nodes: []*corev1.Node{node(corev1.Taint{Key: cp, Value: "true", Effect: corev1.TaintEffectNoSchedule})},
			have:  equalEmpty, adds: true,
		},
		"no node carries the taint: the assumed one decides": {
			nodes: []*corev1.Node{node(corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule})},
			have:  equalEmpty,
		},
		"taints the default is not meant for do not count": {
			nodes: []*corev1.Node{node(corev1.Taint{Key: cp, Value: "x", Effect: corev1.TaintEffectNoExecute})},
			have:  equalEmpty,
		},
		"nothing tolerated: added": {
			nodes: []*corev1.Node{node(corev1.Taint{Key: cp, Effect: corev1.TaintEffectNoSchedule})},
			adds:  true,
		},
		"the node list fails: judged as offline": {
			err:  errors.New("cache not synced"),
			have: equalEmpty,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			m := NewTolerations(def, func(context.Context) ([]*corev1.Node, error) { return tc.nodes, tc.err })
			ds := dstest.DaemonSet(dstest.Spec(corev1.PodSpec{Tolerations: append([]corev1.Toleration(nil), tc.have...)}))
			if got := m.Adds(t.Context(), ds); got != tc.adds {
				t.Errorf("Adds = %v, want %v", got, tc.adds)
			}
			r := m.Mutate(t.Context(), ds)
			if got := len(r.Patch) > 0; got != tc.adds {
				t.Errorf("Mutate added %v, want %v", got, tc.adds)
			}
			assertConverged(t, m, ds)
		})
	}
	// A pod whose tolerations cover the default outright is judged without
	// listing the nodes.
	calls := 0
	m := NewTolerations(def, func(context.Context) ([]*corev1.Node, error) { calls++; return nil, nil })
	m.Mutate(t.Context(), dstest.DaemonSet(dstest.Spec(corev1.PodSpec{Tolerations: append([]corev1.Toleration(nil), def...)})))
	if calls != 0 {
		t.Errorf("listed the nodes %d times for a covered default", calls)
	}
}
