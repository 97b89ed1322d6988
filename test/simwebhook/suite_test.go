// Package simwebhook proves the node-aware rules end to end: on a simulated
// cluster (the real kube-controller-manager and kube-scheduler, kwok nodes of
// the declared shapes) with daemonguard's webhook registered from deploy/,
// what the webhook warns or denies at create time is what the DaemonSet
// controller and the scheduler then do. Run it with `make integration`.
package simwebhook

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/poll"
	"github.com/daemonguard/daemonguard/test/internal/sim"
)

// suiteNodes: 3 control-plane, 2 GPU, 7 small and 8 large nodes.
const suiteNodes = 20

var (
	cluster  *sim.Cluster
	c        client.Client
	warnings = &controlplane.WarningRecorder{}
	ctx      = context.Background()
)

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "simwebhook: KUBEBUILDER_ASSETS is not set; run `make integration`")
		return 1
	}
	dir, err := os.MkdirTemp("", "daemonguard-simwebhook-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	policy := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policy, []byte("apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := time.Now()
	cluster, err = sim.Start(ctx, sim.Options{Nodes: suiteNodes, StateDir: dir, Webhook: true,
		PolicyFile: policy, PolicyPollInterval: 200 * time.Millisecond, ReadyTimeout: 2 * time.Minute})
	if err != nil {
		fmt.Fprintf(os.Stderr, "simwebhook: %v\n(logs in %s)\n", err, dir)
		return 1
	}
	fmt.Printf("simwebhook: %d nodes and the webhook ready in %s\n", suiteNodes, time.Since(start).Round(time.Millisecond))
	code := func() int {
		scheme := runtime.NewScheme()
		if err := clientgoscheme.AddToScheme(scheme); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cfg := *cluster.Config
		cfg.WarningHandler = warnings
		if c, err = client.New(&cfg, client.Options{Scheme: scheme}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	if err := cluster.Stop(); err != nil && code == 0 {
		fmt.Fprintf(os.Stderr, "simwebhook: stopping: %v\n", err)
		code = 1
	}
	if code == 0 {
		_ = os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "simwebhook: logs kept in %s\n", dir)
	}
	return code
}

// finding returns the warning of rule, or "".
func finding(ws []string, rule string) string {
	for _, w := range ws {
		if strings.HasPrefix(w, "["+rule+"]") {
			return w
		}
	}
	return ""
}

var namespaces = 0

func namespace(t *testing.T) string {
	t.Helper()
	namespaces++
	ns := fmt.Sprintf("simwebhook-%d-%d", time.Now().UnixNano()%100000, namespaces)
	if err := cluster.CreateNamespace(ctx, ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

func daemonSet(ns, name string, edit ...func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := dstest.Valid(ns, name)
	ds.TypeMeta = metav1.TypeMeta{} // as the typed client sends it
	for _, e := range edit {
		e(ds)
	}
	return ds
}

// eventually polls cond for at most 30 s.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, 30*time.Second, what, cond)
}

// podsByNode maps node name to the phase of the DaemonSet's pod there.
func podsByNode(t *testing.T, ds *appsv1.DaemonSet) map[string]corev1.PodPhase {
	t.Helper()
	var list corev1.PodList
	if err := c.List(ctx, &list, client.InNamespace(ds.Namespace), client.MatchingLabels(ds.Spec.Selector.MatchLabels)); err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.PodPhase{}
	for i := range list.Items {
		p := &list.Items[i]
		node := p.Spec.NodeName
		if node == "" && p.Spec.Affinity != nil && p.Spec.Affinity.NodeAffinity != nil {
			// The controller pins each daemon pod to its node by affinity
			// before the scheduler binds it.
			if r := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
				for _, term := range r.NodeSelectorTerms {
					for _, f := range term.MatchFields {
						if f.Key == "metadata.name" && len(f.Values) == 1 {
							node = f.Values[0]
						}
					}
				}
			}
		}
		out[node] = p.Status.Phase
	}
	return out
}

func poolOf(t *testing.T, name string) string {
	t.Helper()
	var n corev1.Node
	if err := c.Get(ctx, client.ObjectKey{Name: name}, &n); err != nil {
		t.Fatal(err)
	}
	return n.Labels[sim.PoolLabel]
}
