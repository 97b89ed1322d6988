package validators

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/daemonguard/daemonguard/test/dstest"
)

// node is a Ready node of a pool with allocatable cpu and memory, and taints.
func node(name, pool, cpu, memory string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"node.kubernetes.io/pool": pool, "kubernetes.io/hostname": name}},
		Spec:       corev1.NodeSpec{Taints: taints},
		Status: corev1.NodeStatus{
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(memory), corev1.ResourcePods: resource.MustParse("110")},
			Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		},
	}
}

func cluster() []*corev1.Node {
	cp := corev1.Taint{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}
	gpu := corev1.Taint{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}
	return []*corev1.Node{
		node("cp-1", "control-plane", "4", "8Gi", cp), node("cp-2", "control-plane", "4", "8Gi", cp), node("cp-3", "control-plane", "4", "8Gi", cp),
		node("gpu-1", "gpu", "16", "64Gi", gpu),
		node("small-1", "small", "2", "4Gi"), node("small-2", "small", "2", "4Gi"),
		node("large-1", "large", "16", "64Gi"),
	}
}

func lister(n []*corev1.Node, err error) NodeLister {
	return func(context.Context) ([]*corev1.Node, error) { return n, err }
}

func requests(cpu string) dstest.CtrOpt {
	return func(c *corev1.Container) {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
}

func TestNodeAwareRules(t *testing.T) {
	tolerateAll := func(s *corev1.PodSpec) {
		s.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
	}
	cases := map[string]struct {
		ds    []dstest.PodOpt
		nodes NodeLister
		want  []expect
	}{
		"control plane and GPU pool not tolerated": {
			ds:    []dstest.PodOpt{dstest.Container("agent")},
			nodes: lister(cluster(), nil),
			want: []expect{{"node-coverage", "spec.template.spec.tolerations", []string{
				"3 of 7 nodes", "3 nodes tainted node-role.kubernetes.io/control-plane:NoSchedule are not tolerated", "1 node tainted dedicated=gpu:NoSchedule"}}},
		},
		"everything tolerated: silent": {
			ds:    []dstest.PodOpt{dstest.Container("agent"), tolerateAll},
			nodes: lister(cluster(), nil),
		},
		"a selector that matches nothing": {
			ds:    []dstest.PodOpt{dstest.Container("agent"), tolerateAll, func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"node.kubernetes.io/pool": "arm"} }},
			nodes: lister(cluster(), nil),
			want:  []expect{{"matches-no-node", "spec.template.spec.nodeSelector", []string{"matches none of the 7 nodes"}}},
		},
		"requests above the small pool": {
			ds:    []dstest.PodOpt{dstest.Container("agent", requests("3")), tolerateAll},
			nodes: lister(cluster(), nil),
			want:  []expect{{"does-not-fit", "spec.template.spec.containers", []string{"2 nodes", "small", "cpu 3", "Pending"}}},
		},
		"no node view: silent": {
			ds:    []dstest.PodOpt{dstest.Container("agent", requests("3"))},
			nodes: nil,
		},
		"the node cache failing: silent": {
			ds:    []dstest.PodOpt{dstest.Container("agent", requests("3"))},
			nodes: lister(nil, errors.New("cache not synced")),
		},
		"no nodes yet: silent": {
			ds:    []dstest.PodOpt{dstest.Container("agent")},
			nodes: lister(nil, nil),
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ds := dstest.DaemonSet(tc.ds...)
			got := runNodeRules(t, ds, Options{Nodes: tc.nodes})
			assertFindings(t, got, tc.want)
		})
	}
}

// runNodeRules runs only the rules this file is about, so the other rules'
// findings on these objects do not clutter the tables.
func runNodeRules(t *testing.T, ds *appsv1.DaemonSet, opts Options) []finding {
	t.Helper()
	target := NewTarget(ds)
	var out []finding
	for _, d := range Registry() {
		switch d.ID {
		case "node-coverage", "matches-no-node", "does-not-fit", "hostport-surge", "priority-class-missing":
		default:
			continue
		}
		for _, e := range d.New(opts).Validate(t.Context(), target) {
			out = append(out, finding{Rule: d.ID, Field: e.Field, Detail: e.Detail})
		}
	}
	sortFindings(out)
	return out
}

func TestHostPortSurge(t *testing.T) {
	withPort := func(c *corev1.Container) {
		c.Ports = []corev1.ContainerPort{{ContainerPort: 9100, HostPort: 9100}}
	}
	surge := func(v intstr.IntOrString) func(*appsv1.DaemonSet) {
		return func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &v}}
		}
	}
	cases := map[string]struct {
		ctr  dstest.CtrOpt
		edit func(*appsv1.DaemonSet)
		want []expect
	}{
		"hostPort with maxSurge 1": {ctr: withPort, edit: surge(intstr.FromInt32(1)),
			want: []expect{{"hostport-surge", "spec.updateStrategy.rollingUpdate.maxSurge", []string{"9100", "set maxSurge: 0"}}}},
		"hostPort with maxSurge 10%": {ctr: withPort, edit: surge(intstr.FromString("10%")),
			want: []expect{{"hostport-surge", "spec.updateStrategy.rollingUpdate.maxSurge", []string{"9100"}}}},
		"hostPort with maxSurge 0":   {ctr: withPort, edit: surge(intstr.FromInt32(0))},
		"hostPort, default strategy": {ctr: withPort, edit: func(*appsv1.DaemonSet) {}},
		"maxSurge without hostPort":  {ctr: func(*corev1.Container) {}, edit: surge(intstr.FromInt32(1))},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ds := dstest.DaemonSet(dstest.Container("agent", tc.ctr))
			tc.edit(ds)
			assertFindings(t, runNodeRules(t, ds, Options{}), tc.want)
		})
	}
}

func TestPriorityClassMissing(t *testing.T) {
	exists := func(_ context.Context, name string) (bool, error) { return name == "infra-daemonset", nil }
	failing := func(context.Context, string) (bool, error) { return false, errors.New("timeout") }
	cases := map[string]struct {
		class  string
		lookup ClassLookup
		want   []expect
	}{
		"missing class":              {class: "node-critical-typo", lookup: exists, want: []expect{{"priority-class-missing", "spec.template.spec.priorityClassName", []string{`"node-critical-typo" does not exist`}}}},
		"existing class":             {class: "infra-daemonset", lookup: exists},
		"no class named":             {lookup: exists},
		"offline: no lookup":         {class: "node-critical-typo"},
		"lookup failing: no verdict": {class: "node-critical-typo", lookup: failing},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ds := dstest.DaemonSet(dstest.Container("agent"), func(s *corev1.PodSpec) { s.PriorityClassName = tc.class })
			got := runNodeRules(t, ds, Options{ClassExists: tc.lookup})
			assertFindings(t, got, tc.want)
			for _, f := range got {
				if strings.Contains(f.Detail, "%!") {
					t.Errorf("bad formatting: %s", f.Detail)
				}
			}
		})
	}
}

// TestNodeReviewOnce: the node-aware rules share one review per object, so
// a 1,000-node cluster is listed and judged once per admission.
func TestNodeReviewOnce(t *testing.T) {
	calls := 0
	list := func(context.Context) ([]*corev1.Node, error) { calls++; return cluster(), nil }
	runNodeRules(t, dstest.DaemonSet(dstest.Container("agent")), Options{Nodes: list})
	if calls != 1 {
		t.Fatalf("nodes listed %d times for one object, want 1", calls)
	}
}
