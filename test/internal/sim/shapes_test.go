package sim

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCounts(t *testing.T) {
	tests := map[int][]int{
		0:    {0, 0, 0, 0},
		2:    {2, 0, 0, 0},
		3:    {3, 0, 0, 0},
		4:    {3, 0, 0, 1},
		20:   {3, 2, 7, 8},
		100:  {3, 10, 39, 48},
		1000: {3, 100, 399, 498},
	}
	for n, want := range tests {
		got := Counts(Shapes(), n)
		if !slices.Equal(got, want) {
			t.Errorf("Counts(%d) = %v, want %v", n, got, want)
		}
		sum := 0
		for _, c := range got {
			sum += c
		}
		if sum != n {
			t.Errorf("Counts(%d) sums to %d", n, sum)
		}
	}
}

func TestNodes(t *testing.T) {
	nodes := Nodes(Shapes(), 20)
	if len(nodes) != 20 {
		t.Fatalf("%d nodes, want 20", len(nodes))
	}
	seen := map[string]bool{}
	for _, n := range nodes {
		if seen[n.Name] {
			t.Errorf("duplicate node name %s", n.Name)
		}
		seen[n.Name] = true
		if n.Annotations[KwokAnnotation] != "fake" || n.Labels[PoolLabel] == "" {
			t.Errorf("node %s: annotations %v labels %v", n.Name, n.Annotations, n.Labels)
		}
		if _, ok := n.Status.Allocatable[corev1.ResourcePods]; !ok {
			t.Errorf("node %s has no pod capacity", n.Name)
		}
	}
	cp := nodes[0]
	if cp.Name != "control-plane-000" || len(cp.Spec.Taints) != 1 || cp.Spec.Taints[0].Key != "node-role.kubernetes.io/control-plane" {
		t.Errorf("first node %s taints %v, want a tainted control-plane node", cp.Name, cp.Spec.Taints)
	}
	// The table is fresh each call: changing one copy changes no other.
	s := Shapes()
	s[0].Taints[0].Key = "changed"
	if Shapes()[0].Taints[0].Key == "changed" {
		t.Error("Shapes shares its table")
	}
}
