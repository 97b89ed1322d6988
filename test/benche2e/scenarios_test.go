package benche2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/daemonguard/daemonguard/test/dstest"
)

const (
	// storedNamespace holds the DaemonSets that are re-applied;
	// createNamespace is where dry-run creates go (nothing is stored there,
	// so a create never collides with a stored name).
	storedNamespace = "monitoring"
	createNamespace = "bench-create"
	// fieldManager is the GitOps tool re-applying its manifests.
	fieldManager = "gitops"
)

// A scenario is one request a client repeats.
type scenario struct {
	name string
	// key is the scenario's part of the BENCH names.
	key string
	do  func(ctx context.Context, cs *kubernetes.Clientset) error
}

// seed reads a DaemonSet from deploy/examples, strictly.
func seed(tb testing.TB, file string) *appsv1.DaemonSet {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(dstest.RepoRoot(), "deploy", "examples", file))
	if err != nil {
		tb.Fatal(err)
	}
	ds := dstest.FromYAML(tb, data)
	ds.APIVersion, ds.Kind = "apps/v1", "DaemonSet"
	return ds
}

// dryRunCreate POSTs body (a DaemonSet in namespace, JSON) with dryRun=All.
func dryRunCreate(namespace string, body []byte) func(context.Context, *kubernetes.Clientset) error {
	return func(ctx context.Context, cs *kubernetes.Clientset) error {
		return cs.AppsV1().RESTClient().Post().Namespace(namespace).Resource("daemonsets").
			Param("dryRun", metav1.DryRunAll).Body(body).Do(ctx).Error()
	}
}

// apply server-side applies body over the stored DaemonSet name, as a
// GitOps tool does on every sync: PATCH application/apply-patch+yaml,
// forced, as fieldManager.
func apply(name string, body []byte) func(context.Context, *kubernetes.Clientset) error {
	return func(ctx context.Context, cs *kubernetes.Clientset) error {
		_, err := cs.AppsV1().DaemonSets(storedNamespace).Patch(ctx, name, types.ApplyPatchType, body,
			metav1.PatchOptions{FieldManager: fieldManager, Force: ptr.To(true)})
		return err
	}
}

// createBody is ds as written, in createNamespace, as JSON.
func createBody(tb testing.TB, ds *appsv1.DaemonSet) []byte {
	tb.Helper()
	ds = ds.DeepCopy()
	ds.Namespace = createNamespace
	body, err := json.Marshal(ds)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// storeCompliant creates ds in storedNamespace through the admission in
// force (daemonguard's), so it is stored with its defaults, and returns the
// manifest a GitOps tool holds for it: the stored object without what the
// API server owns (status, uid, resourceVersion, timestamps, managedFields).
func storeCompliant(ctx context.Context, tb testing.TB, cs *kubernetes.Clientset, ds *appsv1.DaemonSet) []byte {
	tb.Helper()
	ds = ds.DeepCopy()
	ds.Namespace = storedNamespace
	stored, err := cs.AppsV1().DaemonSets(storedNamespace).Create(ctx, ds, metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("creating %s: %v", ds.Name, err)
	}
	if stored.Spec.Template.Spec.PriorityClassName == "" {
		tb.Fatalf("%s was stored without daemonguard's defaults", ds.Name)
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(stored)
	if err != nil {
		tb.Fatal(err)
	}
	unstructured.RemoveNestedField(u, "status")
	for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"} {
		unstructured.RemoveNestedField(u, "metadata", f)
	}
	u["apiVersion"], u["kind"] = "apps/v1", "DaemonSet"
	body, err := json.Marshal(u)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// resourceVersion is the stored DaemonSet's, to show that re-applies
// changed nothing.
func resourceVersion(ctx context.Context, tb testing.TB, cs *kubernetes.Clientset, name string) string {
	tb.Helper()
	ds, err := cs.AppsV1().DaemonSets(storedNamespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return ds.ResourceVersion
}

// growthSizes are the container counts of the growth DaemonSets.
var growthSizes = []int{1, 10, 100}

// hostAccess reports whether a pod spec touches the host, which is what
// decides whether daemonguard's validating webhook is called at all.
func hostAccess(s *corev1.PodSpec) bool {
	if s.HostPID || s.HostNetwork || s.HostIPC {
		return true
	}
	for _, v := range s.Volumes {
		if v.HostPath != nil {
			return true
		}
	}
	return false
}
