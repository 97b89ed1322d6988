package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/internal/explain"
	"github.com/daemonguard/daemonguard/internal/explain/live"
	"github.com/daemonguard/daemonguard/internal/kube"
	"github.com/daemonguard/daemonguard/test/internal/sim"
)

// explained is one run of explain against the cluster: the report, its
// text, its JSON read back, and the API requests it made.
type explained struct {
	report   *explain.Report
	text     string
	json     explainJSON
	requests int64
}

// explainJSON is the documented JSON, read back by field name.
type explainJSON struct {
	DaemonSet struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"daemonset"`
	NodeCount int            `json:"nodeCount"`
	Desired   int            `json:"desired"`
	Running   int            `json:"running"`
	Reasons   map[string]int `json:"reasons"`
	Summary   string         `json:"summary"`
	Nodes     []explainNode  `json:"nodes"`
	Rollout   struct {
		Strategy       string   `json:"strategy"`
		MaxUnavailable int      `json:"maxUnavailable"`
		MaxSurge       int      `json:"maxSurge"`
		Desired        int      `json:"desired"`
		Updated        int      `json:"updated"`
		Available      int      `json:"available"`
		Left           int      `json:"left"`
		Complete       bool     `json:"complete"`
		Blocked        []string `json:"blocked"`
	} `json:"rollout"`
	Next string `json:"next"`
	OK   bool   `json:"ok"`
}

type explainNode struct {
	Name      string `json:"name"`
	ShouldRun bool   `json:"shouldRun"`
	Runs      bool   `json:"runs"`
	Reason    string `json:"reason"`
	Cause     string `json:"cause"`
	Detail    string `json:"detail"`
	NodeReady bool   `json:"nodeReady"`
	Cordoned  bool   `json:"cordoned"`
}

// runExplain reads the cluster as `daemonguard explain` does and renders
// both outputs.
func runExplain(t *testing.T, ds *appsv1.DaemonSet) explained {
	t.Helper()
	cfg := rest.CopyConfig(cluster.Config)
	counter := live.Count(cfg)
	cs, err := kube.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	in, err := live.Read(context.Background(), cs, ds.Namespace, ds.Name, live.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out explained
	out.report = explain.Explain(in)
	out.requests = counter.Requests()
	var b bytes.Buffer
	if err := out.report.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out.text = b.String()
	js, err := json.Marshal(out.report)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &out.json); err != nil {
		t.Fatal(err)
	}
	return out
}

// want is the expected reason of every node, by name.
type want map[string]explain.Reason

// byPool says which reason each node has, from its pool.
func byPool(t *testing.T, reasons map[string]explain.Reason) want {
	t.Helper()
	w := want{}
	for _, n := range listNodes(t) {
		r, ok := reasons[n.Labels[sim.PoolLabel]]
		if !ok {
			t.Fatalf("no expected reason for pool %q of node %s", n.Labels[sim.PoolLabel], n.Name)
		}
		w[n.Name] = r
	}
	return w
}

// assertReasons checks that the JSON lists every node with exactly the
// reason expected, and that the text names each group and each node with
// a problem.
func (e explained) assertReasons(t *testing.T, w want) {
	t.Helper()
	got := want{}
	for _, n := range e.json.Nodes {
		got[n.Name] = explain.Reason(n.Reason)
	}
	if len(got) != len(w) {
		t.Errorf("JSON lists %d nodes, the cluster has %d", len(got), len(w))
	}
	var wrong []string
	for name, reason := range w {
		if got[name] != reason {
			wrong = append(wrong, fmt.Sprintf("%s: %s, want %s", name, got[name], reason))
		}
	}
	sort.Strings(wrong)
	if len(wrong) > 0 {
		t.Errorf("explain named the wrong reasons:\n  %s\ntext:\n%s", strings.Join(wrong, "\n  "), e.text)
	}
	counts := map[explain.Reason]int{}
	for _, reason := range w {
		counts[reason]++
	}
	for reason, n := range counts {
		if e.json.Reasons[string(reason)] != n {
			t.Errorf("JSON reasons[%s] = %d, want %d", reason, e.json.Reasons[string(reason)], n)
		}
		if !strings.Contains(e.text, "\n"+string(reason)) {
			t.Errorf("the text has no %s group:\n%s", reason, e.text)
		}
	}
	// The text shows at least the first five nodes of a problem group, in
	// the order the API server lists nodes (by name).
	names := make([]string, 0, len(w))
	for name := range w {
		names = append(names, name)
	}
	sort.Strings(names)
	shown := map[explain.Reason]int{}
	for _, name := range names {
		reason := w[name]
		if (reason.Problem() || reason == explain.Surplus) && shown[reason] < 5 {
			if !strings.Contains(e.text, " "+name) {
				t.Errorf("the text has no line for node %s (%s):\n%s", name, reason, e.text)
			}
			shown[reason]++
		}
	}
}

// node returns the JSON entry of one node.
func (e explained) node(t *testing.T, name string) explainNode {
	t.Helper()
	for _, n := range e.json.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("node %s not in the JSON", name)
	return explainNode{}
}

// causes returns the distinct causes the JSON gives for reason.
func (e explained) causes(reason explain.Reason) []string {
	var out []string
	for _, n := range e.json.Nodes {
		if n.Reason == string(reason) && !slices.Contains(out, n.Cause) {
			out = append(out, n.Cause)
		}
	}
	sort.Strings(out)
	return out
}

// nodesIn returns the names of the nodes in pool.
func nodesIn(t *testing.T, pool string) []string {
	t.Helper()
	var out []string
	for _, n := range listNodes(t) {
		if n.Labels[sim.PoolLabel] == pool {
			out = append(out, n.Name)
		}
	}
	sort.Strings(out)
	return out
}

// patchNode applies edit to a node, retrying on conflicts.
func patchNode(ctx context.Context, name string, edit func(*corev1.Node)) error {
	deadline := time.Now().Add(settle)
	for {
		n := &corev1.Node{}
		if err := cluster.Client.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(n.DeepCopy(), client.MergeFromWithOptimisticLock{})
		edit(n)
		err := cluster.Client.Patch(ctx, n, patch)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// setPodStatus writes a pod's status as its kubelet would, retrying when
// someone else (kwok, the node lifecycle controller) wrote it meanwhile.
func setPodStatus(t *testing.T, p *corev1.Pod, status corev1.PodStatus) {
	t.Helper()
	eventually(t, "setting the status of pod "+p.Name, func() (bool, string) {
		cur := &corev1.Pod{}
		if err := cluster.Client.Get(context.Background(), client.ObjectKeyFromObject(p), cur); err != nil {
			return false, err.Error()
		}
		cur.Status = status
		err := cluster.Client.Status().Update(context.Background(), cur)
		if err != nil && !apierrors.IsConflict(err) {
			t.Fatalf("setting the status of pod %s: %v", p.Name, err)
		}
		return err == nil, fmt.Sprint(err)
	})
}

func nowTime() metav1.Time { return metav1.NewTime(time.Now().Truncate(time.Second)) }
