package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/review"
	"github.com/daemonguard/daemonguard/test/dstest"
)

// TestMutatedAgentsRunAtLeastAsWell: every real agent of the corpora (the
// recipes' agents and the allowed corpus's real charts' output), as its
// authors wrote it and as daemonguard's default policy mutates it (judged
// against this cluster's nodes, as the webhook's node cache does), runs on
// the simulated cluster: the mutated one covers every node the original
// covers, and its pods' requests, as the API server gives them, are never
// lower than the original's.
//
// Each is created directly, without the webhook: the point is what the
// mutation does to scheduling, not the verdict (the recipes' agents are
// denied without their exemption). Container ports are dropped from both,
// since they would conflict between runs on a node and daemonguard never
// touches them. The original runs, then the mutated one, never both at once.
func TestMutatedAgentsRunAtLeastAsWell(t *testing.T) {
	ctx := context.Background()
	nodes := listNodes(t)
	cfg := config.Defaults()
	cfg.Exemptions = []config.Exemption{} // kube-system agents are mutated too
	p, err := policy.New(cfg, policy.Options{Nodes: func(context.Context) ([]*corev1.Node, error) { return nodes, nil }})
	if err != nil {
		t.Fatal(err)
	}
	type agent struct {
		name string
		ds   *appsv1.DaemonSet
	}
	var agents []agent
	for _, dir := range []string{"deploy/recipes/testdata", dstest.AllowedDir} {
		for _, f := range dstest.Corpus(t, dir) {
			if dir == dstest.AllowedDir && !strings.HasPrefix(f.Name, "real-") {
				continue
			}
			agents = append(agents, agent{filepath.Base(dir) + "/" + f.Name, dstest.FromYAML(t, f.Data)})
		}
	}
	// The issue's two cases on a real agent: a toleration without an
	// operator, and limits without requests.
	issue := dstest.FromYAML(t, []byte(`metadata: {name: limits-only, labels: {app: limits-only}}
spec:
  selector: {matchLabels: {app: limits-only}}
  template:
    metadata: {labels: {app: limits-only}}
    spec:
      tolerations: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]
      containers: [{name: agent, image: agent:1, resources: {limits: {cpu: 200m, memory: 500Mi}}}]
`))
	agents = append(agents, agent{"issue-20/limits-only", issue})

	// What the pods need exists before any DaemonSet does: the admission
	// plugins read PriorityClasses (and the controller ServiceAccounts)
	// from informers, and a pod refused for a class created a moment ago
	// sends the DaemonSet controller into its retry backoff.
	origs := make([]*appsv1.DaemonSet, len(agents))
	for i, a := range agents {
		ns := fmt.Sprintf("agent-%02d", i)
		if err := cluster.CreateNamespace(ctx, ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cluster.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
		})
		origs[i] = a.ds.DeepCopy()
		origs[i].Namespace, origs[i].ResourceVersion = ns, ""
		dropPorts(origs[i])
		prepare(t, origs[i])
	}
	time.Sleep(2 * time.Second)

	start := time.Now()
	var covered, mutatedCount int
	for i, a := range agents {
		t.Run(a.name, func(t *testing.T) {
			orig, ns := origs[i], origs[i].Namespace
			data, err := json.Marshal(orig)
			if err != nil {
				t.Fatal(err)
			}
			adm, err := review.Admit(ctx, p, ns, data, nil)
			if err != nil {
				t.Fatal(err)
			}
			mutated := &appsv1.DaemonSet{}
			if err := json.Unmarshal(adm.Object, mutated); err != nil {
				t.Fatal(err)
			}
			if len(adm.Mutation.Operations) > 0 {
				mutatedCount++
			}
			before := run(t, orig)
			after := run(t, mutated)
			if missing := without(before.nodes, after.nodes); len(missing) > 0 {
				t.Errorf("the mutated DaemonSet does not cover %v, which the original covers", missing)
			}
			for k, q := range before.requests {
				if a, ok := after.requests[k]; !ok || a.Cmp(q) < 0 {
					t.Errorf("pod request %s: %s mutated, %s as written", k, a.String(), q.String())
				}
			}
			if len(before.nodes) > 0 {
				covered++
			}
			t.Logf("%d nodes as written, %d mutated (%d patch operations)", len(before.nodes), len(after.nodes), len(adm.Mutation.Operations))
		})
	}
	t.Logf("%d agents (%d mutated, %d covering nodes) in %s", len(agents), mutatedCount, covered, time.Since(start).Round(time.Second))
	if covered < len(agents)/2 {
		t.Errorf("only %d of %d agents ran anywhere: the test lost its material", covered, len(agents))
	}
}

// dropPorts removes container ports (and with them host ports, which
// hostNetwork pods get from their container ports).
func dropPorts(ds *appsv1.DaemonSet) {
	spec := &ds.Spec.Template.Spec
	for i := range spec.Containers {
		spec.Containers[i].Ports = nil
	}
	for i := range spec.InitContainers {
		spec.InitContainers[i].Ports = nil
	}
}

// prepare creates what the agent's pods need to be created at all: its
// ServiceAccount, PriorityClass and RuntimeClass.
func prepare(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	ctx := context.Background()
	spec := &ds.Spec.Template.Spec
	var objs []client.Object
	if sa := spec.ServiceAccountName; sa != "" && sa != "default" {
		objs = append(objs, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ds.Namespace}})
	}
	if pc := spec.PriorityClassName; pc != "" && !strings.HasPrefix(pc, "system-") {
		objs = append(objs, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: pc}, Value: 1000})
	}
	if rc := spec.RuntimeClassName; rc != nil {
		objs = append(objs, &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: *rc}, Handler: *rc})
	}
	for _, o := range objs {
		if err := cluster.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// outcome is where a DaemonSet's pods ran and what they requested.
type outcome struct {
	nodes []string
	// requests of one running pod, "container/resource", as the API
	// server stored them (a limit without a request is the request).
	requests map[string]resource.Quantity
}

// run creates ds, waits until it settles, records the outcome and deletes
// it (and waits for its pods to go), so that the next run starts clean.
func run(t *testing.T, ds *appsv1.DaemonSet) outcome {
	t.Helper()
	ctx := context.Background()
	ds = ds.DeepCopy()
	ds.ResourceVersion, ds.UID = "", ""
	create(t, ds)
	// Every pod the controller wants is placed and running; its Ready
	// count in the status may lag behind under load, and is not what is
	// compared here.
	eventually(t, "DaemonSet "+ds.Name+" to place its pods", func() (bool, string) {
		cur := get(t, ds)
		st := cur.Status
		running := 0
		for _, p := range pods(t, ds) {
			if p.Spec.NodeName != "" && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				running++
			}
		}
		ok := st.ObservedGeneration == cur.Generation && st.CurrentNumberScheduled == st.DesiredNumberScheduled && int(st.DesiredNumberScheduled) == running
		return ok, fmt.Sprintf("status %+v, %d pods running", st, running)
	})
	out := outcome{nodes: podNodes(t, ds), requests: map[string]resource.Quantity{}}
	for _, p := range pods(t, ds) {
		if p.Spec.NodeName == "" {
			continue
		}
		for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
			for _, c := range list {
				for name, q := range c.Resources.Requests {
					out.requests[c.Name+"/"+string(name)] = q
				}
			}
		}
		break
	}
	bg := metav1.DeletePropagationForeground
	if err := cluster.Client.Delete(ctx, ds, &client.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "DaemonSet "+ds.Name+" and its pods to go", func() (bool, string) {
		n := len(pods(t, ds))
		err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(ds), &appsv1.DaemonSet{})
		return n == 0 && apierrors.IsNotFound(err), fmt.Sprintf("%d pods, get: %v", n, err)
	})
	return out
}

// without lists the members of a missing from b.
func without(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
