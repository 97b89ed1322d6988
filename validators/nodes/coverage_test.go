package nodes

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCoverage(t *testing.T) {
	cpToleration := corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}
	gpuToleration := corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	tests := map[string]struct {
		ds      func(*corev1.PodSpec)
		nodes   []*corev1.Node
		covered []string
		groups  []string
		noMatch bool
	}{
		"no tolerations: workers only": {
			ds:      func(*corev1.PodSpec) {},
			nodes:   cluster(),
			covered: []string{"worker-0", "worker-1", "worker-2"},
			groups: []string{
				"3 nodes tainted node-role.kubernetes.io/control-plane:NoSchedule are not tolerated",
				"2 nodes tainted dedicated=gpu:NoSchedule are not tolerated",
			},
		},
		"control-plane toleration": {
			ds:      tolerate(cpToleration),
			nodes:   cluster(),
			covered: []string{"cp-0", "cp-1", "cp-2", "worker-0", "worker-1", "worker-2"},
			groups:  []string{"2 nodes tainted dedicated=gpu:NoSchedule are not tolerated"},
		},
		"tolerate everything (empty key Exists)": {
			ds:      tolerate(corev1.Toleration{Operator: corev1.TolerationOpExists}),
			nodes:   cluster(),
			covered: []string{"cp-0", "cp-1", "cp-2", "gpu-0", "gpu-1", "worker-0", "worker-1", "worker-2"},
		},
		"gpu nodeSelector and toleration": {
			ds: func(s *corev1.PodSpec) {
				s.NodeSelector = map[string]string{"hardware/gpu": "true"}
				s.Tolerations = []corev1.Toleration{gpuToleration}
			},
			nodes:   cluster(),
			covered: []string{"gpu-0", "gpu-1"},
			groups:  []string{"6 nodes do not match the nodeSelector/required node affinity"},
		},
		"gpu nodeSelector without toleration": {
			ds:     func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"hardware/gpu": "true"} },
			nodes:  cluster(),
			groups: []string{"6 nodes do not match the nodeSelector/required node affinity", "2 nodes tainted dedicated=gpu:NoSchedule are not tolerated"},
		},
		"wrong toleration value": {
			ds:     tolerate(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "gpus", Effect: corev1.TaintEffectNoSchedule}),
			nodes:  []*corev1.Node{node("gpu-0", nil, gpuTaint)},
			groups: []string{"1 node tainted dedicated=gpu:NoSchedule is not tolerated"},
		},
		"nodeSelector matches nothing": {
			ds:      func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"disktype": "ssd"} },
			nodes:   cluster(),
			groups:  []string{"8 nodes do not match the nodeSelector/required node affinity"},
			noMatch: true,
		},
		"required node affinity": {
			ds: func(s *corev1.PodSpec) {
				s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
						{Key: "node.kubernetes.io/pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"general"}},
					}}},
				}}}
			},
			nodes:   cluster(),
			covered: []string{"worker-0", "worker-1", "worker-2"},
			groups:  []string{"5 nodes do not match the nodeSelector/required node affinity"},
		},
		"preferred affinity does not restrict": {
			ds: func(s *corev1.PodSpec) {
				s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{
					Weight: 1, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "x", Operator: corev1.NodeSelectorOpExists}}},
				}}}}
			},
			nodes:   []*corev1.Node{node("a", nil)},
			covered: []string{"a"},
		},
		"nodeName pins one node": {
			ds:      func(s *corev1.PodSpec) { s.NodeName = "worker-1" },
			nodes:   []*corev1.Node{node("worker-0", nil), node("worker-1", nil)},
			covered: []string{"worker-1"},
			groups:  []string{`1 node excluded: spec.template.spec.nodeName is "worker-1"`},
		},
		"nodeName matches no node": {
			ds:      func(s *corev1.PodSpec) { s.NodeName = "gone" },
			nodes:   []*corev1.Node{node("worker-0", nil)},
			groups:  []string{`1 node excluded: spec.template.spec.nodeName is "gone"`},
			noMatch: true,
		},
		"controller tolerations: unschedulable, pressure, not-ready NoExecute": {
			ds: func(*corev1.PodSpec) {},
			nodes: []*corev1.Node{
				node("cordoned", nil, unschedulable),
				node("pressure", nil, corev1.Taint{Key: corev1.TaintNodeMemoryPressure, Effect: corev1.TaintEffectNoSchedule}),
				node("not-ready-execute", nil, notReadyExecute),
				node("soft", nil, preferNoSchedule),
			},
			covered: []string{"cordoned", "pressure", "not-ready-execute", "soft"},
		},
		"new node tainted not-ready:NoSchedule is not covered yet": {
			ds:     func(*corev1.PodSpec) {},
			nodes:  []*corev1.Node{node("new", nil, notReadyTaint)},
			groups: []string{"1 node tainted node.kubernetes.io/not-ready:NoSchedule is not tolerated"},
		},
		"network-unavailable tolerated only with hostNetwork": {
			ds:     func(*corev1.PodSpec) {},
			nodes:  []*corev1.Node{node("no-cni", nil, netUnavailable)},
			groups: []string{"1 node tainted node.kubernetes.io/network-unavailable:NoSchedule is not tolerated"},
		},
		"network-unavailable with hostNetwork": {
			ds:      func(s *corev1.PodSpec) { s.HostNetwork = true },
			nodes:   []*corev1.Node{node("no-cni", nil, netUnavailable)},
			covered: []string{"no-cni"},
		},
		"no nodes": {
			ds: func(*corev1.PodSpec) {},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ds := daemonSet(tc.ds)
			before := ds.DeepCopy()
			got := Coverage(ds, tc.nodes)
			if !sameStrings(tc.covered, got.CoveredNames()) {
				t.Errorf("covered = %q, want %q", got.CoveredNames(), tc.covered)
			}
			var groups []string
			for _, u := range got.Uncovered {
				groups = append(groups, u.String())
			}
			if !sameStrings(tc.groups, groups) {
				t.Errorf("uncovered = %q, want %q", groups, tc.groups)
			}
			if got.Total != len(tc.nodes) {
				t.Errorf("Total = %d, want %d", got.Total, len(tc.nodes))
			}
			if got.MatchesNoNode() != tc.noMatch {
				t.Errorf("MatchesNoNode() = %v, want %v", got.MatchesNoNode(), tc.noMatch)
			}
			if !reflect.DeepEqual(before, ds) {
				t.Errorf("Coverage modified the DaemonSet")
			}
		})
	}
}

// sameStrings is reflect.DeepEqual with nil and empty equal.
func sameStrings(a, b []string) bool {
	return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b)
}

func TestCoverageString(t *testing.T) {
	got := Coverage(daemonSet(), cluster()).String()
	want := "covers 3 of 8 nodes; 3 nodes tainted node-role.kubernetes.io/control-plane:NoSchedule are not tolerated; 2 nodes tainted dedicated=gpu:NoSchedule are not tolerated"
	if got != want {
		t.Errorf("String() =\n%s\nwant\n%s", got, want)
	}
}

// BenchmarkCoverage is the cost of one Coverage call, the unit a node-aware
// admission rule pays per DaemonSet, on clusters of 1,000 and 5,000 nodes of
// mixed shapes, with a DaemonSet that has a nodeSelector, tolerations and a
// required node affinity. ns/node says whether the walk stays linear.
func BenchmarkCoverage(b *testing.B) {
	for _, size := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("%dnodes", size), func(b *testing.B) { benchmarkCoverage(b, size) })
	}
}

func benchmarkCoverage(b *testing.B, size int) {
	var ns []*corev1.Node
	for i := range size {
		switch {
		case i < 3:
			ns = append(ns, node(fmt.Sprintf("cp-%d", i), map[string]string{"node-role.kubernetes.io/control-plane": "", "kubernetes.io/os": "linux"}, controlPlaneTaint))
		case i < 100:
			ns = append(ns, node(fmt.Sprintf("gpu-%d", i), map[string]string{"hardware/gpu": "true", "kubernetes.io/os": "linux", "node.kubernetes.io/pool": "gpu"}, gpuTaint))
		default:
			ns = append(ns, node(fmt.Sprintf("worker-%d", i), map[string]string{"kubernetes.io/os": "linux", "node.kubernetes.io/pool": "general"}))
		}
	}
	ds := daemonSet(func(s *corev1.PodSpec) {
		s.NodeSelector = map[string]string{"kubernetes.io/os": "linux"}
		s.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
		s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "node.kubernetes.io/pool", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"spot"}},
			}}},
		}}}
	})
	b.ReportAllocs()
	for b.Loop() {
		c := Coverage(ds, ns)
		if len(c.Covered) != size-97 {
			b.Fatalf("covered %d, want %d", len(c.Covered), size-97)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size), "ns/node")
}
