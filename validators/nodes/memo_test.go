package nodes

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// memoCluster is cluster() with a node too small for memoBase's requests
// and one whose network is not ready yet.
func memoCluster() []*corev1.Node {
	return append(cluster(),
		sized(node("small", map[string]string{"node.kubernetes.io/pool": "edge"}), "10m", "64Mi"),
		node("net-pending", map[string]string{"node.kubernetes.io/pool": "general"}, netUnavailable))
}

// memoBase tolerates the control plane and asks for more CPU than the small
// node has: Review finds coverage and does-not-fit on memoCluster.
func memoBase(s *corev1.PodSpec) {
	s.Tolerations = []corev1.Toleration{{Key: controlPlaneTaint.Key, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	s.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}
}

func cpu(q string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(q)}
}

// Each input of the node checks, changed alone, changes what Review finds;
// a memo that has seen the unchanged DaemonSet must find what Review finds
// on the changed one, so the memo's key holds every input.
func TestMemoKeyHoldsWhatTheChecksRead(t *testing.T) {
	nodes := memoCluster()
	base := daemonSet(memoBase)
	changes := map[string]func(*corev1.PodSpec){
		"nodeName":    func(s *corev1.PodSpec) { s.NodeName = "worker-1" },
		"toleration":  tolerate(corev1.Toleration{Key: "dedicated", Operator: corev1.TolerationOpExists}),
		"hostNetwork": func(s *corev1.PodSpec) { s.HostNetwork = true },
		"nodeSelector": func(s *corev1.PodSpec) {
			s.NodeSelector = map[string]string{"node.kubernetes.io/pool": "general"}
		},
		"required node affinity": func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{"gpu-1", "small"}}}}},
			}}}
		},
		"selector field": func(s *corev1.PodSpec) {
			s.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "node.kubernetes.io/pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"general"}}}}},
			}}}
		},
		"container requests": func(s *corev1.PodSpec) { s.Containers[0].Resources.Requests = cpu("5") },
		"init container requests": func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "init", Image: "init:1", Resources: corev1.ResourceRequirements{Requests: cpu("5")}}}
		},
		"sidecar requests": func(s *corev1.PodSpec) {
			s.InitContainers = []corev1.Container{{Name: "sidecar", Image: "sidecar:1", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Resources: corev1.ResourceRequirements{Requests: cpu("1")}}}
		},
		"overhead":           func(s *corev1.PodSpec) { s.Overhead = cpu("4") },
		"pod-level requests": func(s *corev1.PodSpec) { s.Resources = &corev1.ResourceRequirements{Requests: cpu("50m")} },
		"memory requests": func(s *corev1.PodSpec) {
			s.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("1Gi")
		},
		"requests in another unit":  func(s *corev1.PodSpec) { s.Containers[0].Resources.Requests = cpu("0.05") },
		"untolerated control plane": func(s *corev1.PodSpec) { s.Tolerations = nil },
	}
	before := Review(base, nodes)
	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			changed := daemonSet(memoBase, change)
			want := Review(changed, nodes)
			if name != "requests in another unit" && reflect.DeepEqual(want, before) {
				t.Fatalf("the change finds what the base finds (%v): the test cannot tell a key without it", want)
			}
			m := NewMemo()
			m.Review(base, nodes)
			if got := m.Review(changed, nodes); !reflect.DeepEqual(got, want) {
				t.Errorf("memo after the base =\n%v\nReview =\n%v", got, want)
			}
		})
	}
}

// What the node checks do not read is not in the key: DaemonSets that
// differ only there share one walk, and each keeps its own hostport-surge
// finding, which needs no nodes.
func TestMemoSharesAcrossWhatTheChecksDoNotRead(t *testing.T) {
	nodes := memoCluster()
	a := daemonSet(memoBase)
	b := daemonSet(memoBase, func(s *corev1.PodSpec) {
		s.Containers[0].Image = "other:2"
		s.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9100, HostPort: 9100, Protocol: corev1.ProtocolTCP}}
	})
	b.Name, b.Namespace, b.Labels = "exporter", "monitoring", map[string]string{"app": "exporter"}
	b.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0))}}
	ka, err := shapeKey(a)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := shapeKey(b)
	if err != nil {
		t.Fatal(err)
	}
	if ka != kb {
		t.Fatalf("keys differ:\n%s\n%s", ka, kb)
	}
	m := NewMemo()
	for _, ds := range []*appsv1.DaemonSet{a, b, a, b} {
		if got, want := m.Review(ds, nodes), Review(ds, nodes); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: memo =\n%v\nReview =\n%v", ds.Name, got, want)
		}
	}
	if got := m.Review(b, nodes); got[len(got)-1].Check != CheckHostPortSurge {
		t.Errorf("no hostport-surge finding for %s: %v", b.Name, got)
	}
}

// A new node list, even of the same length, is reviewed anew.
func TestMemoNewListStartsOver(t *testing.T) {
	ds := daemonSet(memoBase)
	first := memoCluster()
	second := slices.Clone(first)
	second[len(second)-1] = node("net-ready", map[string]string{"node.kubernetes.io/pool": "general"})
	m := NewMemo()
	m.Review(ds, first)
	got, want := m.Review(ds, second), Review(ds, second)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("memo on the new list =\n%v\nReview =\n%v", got, want)
	}
	if reflect.DeepEqual(want, Review(ds, first)) {
		t.Fatal("both lists find the same: the test cannot tell")
	}
}

// Concurrent reviews (the webhook's) of many shapes against lists that
// change agree with Review; run with -race.
func TestMemoConcurrent(t *testing.T) {
	lists := [][]*corev1.Node{memoCluster(), cluster()}
	var shapes []*appsv1.DaemonSet
	for i := range 8 {
		shapes = append(shapes, daemonSet(memoBase, func(s *corev1.PodSpec) { s.Containers[0].Resources.Requests = cpu(fmt.Sprintf("%dm", 5*(i+1))) }))
	}
	m := NewMemo()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				ds, nodes := shapes[(i+g)%len(shapes)], lists[(i/50+g)%len(lists)]
				if got, want := m.Review(ds, nodes), Review(ds, nodes); !reflect.DeepEqual(got, want) {
					t.Errorf("memo =\n%v\nReview =\n%v", got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkMemoReview is the node checks' cost per DaemonSet when 2,000
// DaemonSets of the bench-scale's four shapes are reviewed against one node
// list, as a resync does, with and without a memo.
func BenchmarkMemoReview(b *testing.B) {
	ns := make([]*corev1.Node, 0, 5000)
	for i := range 5000 {
		pool := []string{"general", "large", "small", "gpu"}[i%4]
		n := node(fmt.Sprintf("node-%d", i), map[string]string{"kubernetes.io/os": "linux", "node.kubernetes.io/pool": pool})
		if pool == "gpu" {
			n.Spec.Taints = []corev1.Taint{gpuTaint}
		}
		ns = append(ns, n)
	}
	shapes := []func(*corev1.PodSpec){
		func(*corev1.PodSpec) {},
		func(s *corev1.PodSpec) { s.Containers[0].Resources.Requests = cpu("5") },
		func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"node.kubernetes.io/pool": "large"} },
		tolerate(corev1.Toleration{Operator: corev1.TolerationOpExists}),
	}
	dss := make([]*appsv1.DaemonSet, 2000)
	for i := range dss {
		dss[i] = daemonSet(shapes[i%len(shapes)])
		dss[i].Name = fmt.Sprintf("agent-%04d", i)
	}
	for _, memo := range []bool{false, true} {
		b.Run(fmt.Sprintf("memo=%t", memo), func(b *testing.B) {
			for b.Loop() {
				var m *Memo
				if memo {
					m = NewMemo()
				}
				for _, ds := range dss {
					m.Review(ds, ns)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(dss)), "ns/daemonset")
		})
	}
}
