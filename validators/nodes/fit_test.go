package nodes

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

func requests(cpu, mem string) corev1.ResourceRequirements {
	r := corev1.ResourceList{}
	if cpu != "" {
		r[corev1.ResourceCPU] = resource.MustParse(cpu)
	}
	if mem != "" {
		r[corev1.ResourceMemory] = resource.MustParse(mem)
	}
	return corev1.ResourceRequirements{Requests: r}
}

func TestPodRequests(t *testing.T) {
	tests := map[string]struct {
		spec     func(*corev1.PodSpec)
		cpu, mem string
	}{
		"containers are summed": {
			spec: func(s *corev1.PodSpec) {
				s.Containers = []corev1.Container{{Name: "a", Resources: requests("100m", "64Mi")}, {Name: "b", Resources: requests("200m", "64Mi")}}
			},
			cpu: "300m", mem: "128Mi",
		},
		"the largest init container wins when it is larger": {
			spec: func(s *corev1.PodSpec) {
				s.Containers = []corev1.Container{{Name: "a", Resources: requests("100m", "64Mi")}}
				s.InitContainers = []corev1.Container{{Name: "i1", Resources: requests("1", "32Mi")}, {Name: "i2", Resources: requests("500m", "1Gi")}}
			},
			cpu: "1", mem: "1Gi",
		},
		"a sidecar adds to the containers": {
			spec: func(s *corev1.PodSpec) {
				s.Containers = []corev1.Container{{Name: "a", Resources: requests("100m", "64Mi")}}
				s.InitContainers = []corev1.Container{{Name: "side", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), Resources: requests("50m", "64Mi")}}
			},
			cpu: "150m", mem: "128Mi",
		},
		"pod overhead is added": {
			spec: func(s *corev1.PodSpec) {
				s.Containers = []corev1.Container{{Name: "a", Resources: requests("100m", "64Mi")}}
				s.Overhead = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("120Mi")}
			},
			cpu: "350m", mem: "184Mi",
		},
		"pod-level resources win": {
			spec: func(s *corev1.PodSpec) {
				s.Containers = []corev1.Container{{Name: "a", Resources: requests("100m", "64Mi")}}
				r := requests("2", "3Gi")
				s.Resources = &r
			},
			cpu: "2", mem: "3Gi",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := PodRequests(daemonSet(tc.spec))
			if q := got[corev1.ResourceCPU]; q.Cmp(resource.MustParse(tc.cpu)) != 0 {
				t.Errorf("cpu = %s, want %s", q.String(), tc.cpu)
			}
			if q := got[corev1.ResourceMemory]; q.Cmp(resource.MustParse(tc.mem)) != 0 {
				t.Errorf("memory = %s, want %s", q.String(), tc.mem)
			}
		})
	}
}

func TestFit(t *testing.T) {
	pools := func() []*corev1.Node {
		small := func(n string) *corev1.Node {
			return sized(node(n, map[string]string{"node.kubernetes.io/pool": "small"}), "2", "4Gi")
		}
		large := func(n string) *corev1.Node {
			return sized(node(n, map[string]string{"node.kubernetes.io/pool": "large"}), "16", "64Gi")
		}
		bare := sized(node("bare", nil), "1", "2Gi")
		return []*corev1.Node{small("s0"), large("l0"), small("s1"), bare, large("l1")}
	}
	gpu := node("gpu", map[string]string{"node.kubernetes.io/pool": "gpu"})
	gpu.Status.Allocatable["nvidia.com/gpu"] = resource.MustParse("1")
	noPods := node("no-pods", nil)
	delete(noPods.Status.Allocatable, corev1.ResourcePods)

	tests := map[string]struct {
		spec   func(*corev1.PodSpec)
		nodes  []*corev1.Node
		fits   int
		groups []string
		short  []string
	}{
		"fits everywhere": {
			spec:  func(s *corev1.PodSpec) { s.Containers[0].Resources = requests("500m", "1Gi") },
			nodes: pools(), fits: 5,
		},
		"no requests fits everywhere": {
			spec: func(*corev1.PodSpec) {}, nodes: pools(), fits: 5,
		},
		"too big for the small pool, grouped by pool": {
			spec:  func(s *corev1.PodSpec) { s.Containers[0].Resources = requests("4", "8Gi") },
			nodes: pools(), fits: 2,
			groups: []string{
				"2 nodes in pool node.kubernetes.io/pool=small cannot fit the pod: requests cpu 4 (allocatable 2), memory 8Gi (allocatable 4Gi)",
				"1 node cannot fit the pod: requests cpu 4 (allocatable 1), memory 8Gi (allocatable 2Gi)",
			},
			short: []string{"s0", "s1", "bare"},
		},
		"only cpu short": {
			spec:  func(s *corev1.PodSpec) { s.Containers[0].Resources = requests("3", "1Gi") },
			nodes: pools(), fits: 2,
			groups: []string{"2 nodes in pool node.kubernetes.io/pool=small cannot fit the pod: requests cpu 3 (allocatable 2)", "1 node cannot fit the pod: requests cpu 3 (allocatable 1)"},
			short:  []string{"s0", "s1", "bare"},
		},
		"extended resource missing on the node": {
			spec: func(s *corev1.PodSpec) {
				s.Containers[0].Resources = corev1.ResourceRequirements{Requests: corev1.ResourceList{"nvidia.com/gpu": resource.MustParse("1")}}
			},
			nodes:  []*corev1.Node{gpu, node("cpu-only", nil)},
			fits:   1,
			groups: []string{"1 node cannot fit the pod: requests nvidia.com/gpu 1 (allocatable 0)"},
			short:  []string{"cpu-only"},
		},
		"a node without pod capacity": {
			spec:   func(*corev1.PodSpec) {},
			nodes:  []*corev1.Node{noPods},
			groups: []string{"1 node cannot fit the pod: requests pods 1 (allocatable 0)"},
			short:  []string{"no-pods"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Fit(daemonSet(tc.spec), tc.nodes)
			if got.Fits != tc.fits {
				t.Errorf("Fits = %d, want %d", got.Fits, tc.fits)
			}
			var groups []string
			for _, g := range got.TooSmall {
				groups = append(groups, g.String())
			}
			if !sameStrings(groups, tc.groups) {
				t.Errorf("TooSmall =\n%q\nwant\n%q", groups, tc.groups)
			}
			if !sameStrings(got.NodesTooSmall(), tc.short) {
				t.Errorf("NodesTooSmall = %q, want %q", got.NodesTooSmall(), tc.short)
			}
		})
	}
}

func TestFitOnlyCovered(t *testing.T) {
	ns := []*corev1.Node{sized(node("cp", nil, controlPlaneTaint), "1", "1Gi"), node("w", nil)}
	ds := daemonSet(func(s *corev1.PodSpec) { s.Containers[0].Resources = requests("2", "2Gi") })
	got := Fit(ds, Coverage(ds, ns).Covered)
	if got.Fits != 1 || len(got.TooSmall) != 0 {
		t.Errorf("Fit over covered nodes = %+v, want the uncovered small node ignored", got)
	}
	if !reflect.DeepEqual(names(Coverage(ds, ns).Covered), []string{"w"}) {
		t.Error("unexpected coverage")
	}
}
