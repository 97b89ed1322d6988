package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/test/internal/poll"
	"github.com/daemonguard/daemonguard/test/internal/sim"
)

// settle bounds every wait for the controllers: a 20-node DaemonSet settles
// in about a second here.
const settle = 45 * time.Second

// namespace creates a namespace for one test (with its default
// ServiceAccount) and deletes it afterwards, without waiting. The name ends
// in a random suffix: with -count=N the previous run's namespace of the same
// test may still be terminating.
func namespace(t *testing.T) string {
	t.Helper()
	name := "sim-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 57 {
		name = name[:57]
	}
	name = fmt.Sprintf("%s-%05x", strings.TrimRight(name, "-"), rand.IntN(1<<20))
	ctx := context.Background()
	if err := cluster.CreateNamespace(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
	})
	return name
}

// daemonSet is a minimal agent DaemonSet; mutate adjusts its pod spec.
func daemonSet(ns, name string, mutate ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "agent", Image: "registry.example/agent:1"}},
				},
			},
		},
	}
	for _, m := range mutate {
		m(ds)
	}
	return ds
}

func create(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	if err := cluster.Client.Create(context.Background(), ds); err != nil {
		t.Fatalf("creating DaemonSet %s: %v", ds.Name, err)
	}
}

func listNodes(t *testing.T) []*corev1.Node {
	t.Helper()
	nodes, err := cluster.ListNodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != suiteNodes {
		t.Fatalf("the cluster has %d nodes, want %d", len(nodes), suiteNodes)
	}
	return nodes
}

func pods(t *testing.T, ds *appsv1.DaemonSet) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := cluster.Client.List(context.Background(), &list, client.InNamespace(ds.Namespace), client.MatchingLabels(ds.Spec.Selector.MatchLabels)); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func get(t *testing.T, ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	t.Helper()
	out := &appsv1.DaemonSet{}
	if err := cluster.Client.Get(context.Background(), client.ObjectKeyFromObject(ds), out); err != nil {
		t.Fatal(err)
	}
	return out
}

// eventually polls cond every 100 ms until it holds or settle passes; then
// it fails with what cond last said.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, settle, what, cond)
}

// waitSettled waits until the controller has seen the DaemonSet's current
// generation and every pod it wants is scheduled and ready, and returns the
// DaemonSet as it is then.
func waitSettled(t *testing.T, ds *appsv1.DaemonSet) *appsv1.DaemonSet {
	t.Helper()
	var cur *appsv1.DaemonSet
	eventually(t, "DaemonSet "+ds.Name+" to settle", func() (bool, string) {
		cur = get(t, ds)
		st := cur.Status
		running := 0
		for _, p := range pods(t, ds) {
			if p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				running++
			}
		}
		ok := st.ObservedGeneration == cur.Generation && st.NumberReady == st.DesiredNumberScheduled &&
			st.UpdatedNumberScheduled == st.DesiredNumberScheduled && int(st.DesiredNumberScheduled) == running
		return ok, fmt.Sprintf("status %+v, %d pods running", st, running)
	})
	return cur
}

// podNodes returns the names of the nodes the DaemonSet's pods run on.
func podNodes(t *testing.T, ds *appsv1.DaemonSet) []string {
	t.Helper()
	var out []string
	for _, p := range pods(t, ds) {
		if p.Spec.NodeName != "" && p.DeletionTimestamp == nil {
			out = append(out, p.Spec.NodeName)
		}
	}
	slices.Sort(out)
	return out
}

// targetNode is the node the DaemonSet controller created a pod for: the
// metadata.name term of the node affinity it sets on every daemon pod.
func targetNode(p *corev1.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

// unschedulable returns the pod's PodScheduled=False message, or "".
func unschedulable(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			return c.Message
		}
	}
	return ""
}

// events returns the messages of the events about ds with reason.
func events(t *testing.T, ds *appsv1.DaemonSet, reason string) []string {
	t.Helper()
	var list corev1.EventList
	if err := cluster.Client.List(context.Background(), &list, client.InNamespace(ds.Namespace)); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "DaemonSet" && e.InvolvedObject.Name == ds.Name && e.Reason == reason {
			out = append(out, e.Message)
		}
	}
	return out
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// pool selects one node pool.
func pool(name string) func(*appsv1.DaemonSet) {
	return func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.NodeSelector = map[string]string{sim.PoolLabel: name}
	}
}
