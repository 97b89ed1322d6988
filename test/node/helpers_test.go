package node

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/test/internal/node"
	"github.com/daemonguard/daemonguard/test/internal/node/proberesult"
	"github.com/daemonguard/daemonguard/test/internal/sim"
)

// podWait bounds every wait for a pod on the node: a pod starts in a few
// seconds here.
const podWait = 90 * time.Second

func keyOf(name, namespace string) client.ObjectKey {
	return client.ObjectKey{Name: name, Namespace: namespace}
}

// readDaemonSet reads one DaemonSet, strictly.
func readDaemonSet(t *testing.T, file string) *appsv1.DaemonSet {
	t.Helper()
	ds, err := decodeDaemonSet(file)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func decodeDaemonSet(file string) (*appsv1.DaemonSet, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	ds := &appsv1.DaemonSet{}
	if err := yaml.UnmarshalStrict(b, ds); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return ds, nil
}

// createNamespace creates a namespace (if needed) with its default
// ServiceAccount, and deletes it when the test ends.
func createNamespace(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	if err := nd.Client.Create(ctx, namespaceObject(name)); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := sim.WaitServiceAccount(ctx, nd.Client, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteNamespace(t, name) })
}

// deleteNamespace deletes a namespace and waits (bounded) until its pods
// are gone from the node, so the next test finds the node quiet.
func deleteNamespace(t *testing.T, name string) {
	ctx := context.Background()
	var pods corev1.PodList
	_ = nd.Client.List(ctx, &pods, client.InNamespace(name))
	_ = nd.Client.Delete(ctx, namespaceObject(name))
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		var left corev1.PodList
		if err := nd.Client.List(ctx, &left, client.InNamespace(name)); err == nil && len(left.Items) == 0 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("pods of namespace %s still there after 60s", name)
}

// podOf waits for the DaemonSet's pod on the node and returns it once cond
// holds for it (or fails the test after podWait).
func podOf(t *testing.T, ds *appsv1.DaemonSet, what string, cond func(*corev1.Pod) (bool, string)) *corev1.Pod {
	t.Helper()
	sel := labels.SelectorFromSet(ds.Spec.Selector.MatchLabels)
	var last string
	deadline := time.Now().Add(podWait)
	for {
		var pods corev1.PodList
		if err := nd.Client.List(context.Background(), &pods, client.InNamespace(ds.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("%d pods", len(pods.Items))
			for i := range pods.Items {
				p := &pods.Items[i]
				if p.DeletionTimestamp != nil {
					continue
				}
				ok, why := cond(p)
				if ok {
					return p
				}
				last = fmt.Sprintf("pod %s: %s; %s", p.Name, why, describe(p))
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("DaemonSet %s/%s: no pod %s within %s (last: %s)", ds.Namespace, ds.Name, what, podWait, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// describe summarizes a pod's state for a failure message.
func describe(p *corev1.Pod) string {
	var parts []string
	parts = append(parts, "phase "+string(p.Status.Phase))
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			parts = append(parts, fmt.Sprintf("%s: %s", c.Type, c.Message))
		}
	}
	for _, st := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		switch {
		case st.State.Waiting != nil:
			parts = append(parts, fmt.Sprintf("%s waiting %s: %s", st.Name, st.State.Waiting.Reason, st.State.Waiting.Message))
		case st.State.Terminated != nil:
			parts = append(parts, fmt.Sprintf("%s terminated %s (exit %d)", st.Name, st.State.Terminated.Reason, st.State.Terminated.ExitCode))
		case st.State.Running != nil:
			parts = append(parts, st.Name+" running")
		}
	}
	return strings.Join(parts, "; ")
}

// resultOf waits for the probe's report from a container of a DaemonSet's
// pod.
func resultOf(t *testing.T, ds *appsv1.DaemonSet, container string) (*corev1.Pod, *proberesult.Result) {
	t.Helper()
	var res *proberesult.Result
	pod := podOf(t, ds, "with container "+container+"'s probe report", func(p *corev1.Pod) (bool, string) {
		r, err := nd.ProbeResult(p, container)
		if err != nil {
			return false, err.Error()
		}
		res = r
		return true, ""
	})
	t.Logf("%s/%s: %s", pod.Name, container, res)
	return pod, res
}

// runPod runs a plain pod (no DaemonSet: no admission by daemonguard) that
// runs the probe once, and returns its report from the termination
// message; or no report, when the kubelet reports it cannot create the
// container or the pod does not finish within podWait.
func runPod(t *testing.T, pod *corev1.Pod) (*corev1.Pod, *proberesult.Result) {
	t.Helper()
	ctx := context.Background()
	pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	pod.Spec.TerminationGracePeriodSeconds = ptrTo(int64(1))
	pod.Spec.AutomountServiceAccountToken = ptrTo(false)
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		if c.Image == "" {
			c.Image = node.ProbeImage
		}
		c.ImagePullPolicy = corev1.PullNever
	}
	if err := nd.Client.Create(ctx, pod); err != nil {
		t.Fatalf("creating pod %s: %v", pod.Name, err)
	}
	t.Cleanup(func() {
		_ = nd.Client.Delete(context.Background(), pod, client.GracePeriodSeconds(0))
	})
	deadline := time.Now().Add(podWait)
	for {
		cur := &corev1.Pod{}
		if err := nd.Client.Get(ctx, client.ObjectKeyFromObject(pod), cur); err != nil {
			t.Fatal(err)
		}
		if cur.Status.Phase == corev1.PodSucceeded || cur.Status.Phase == corev1.PodFailed {
			r, err := nd.ProbeResult(cur, cur.Spec.Containers[0].Name)
			if err != nil {
				t.Fatalf("pod %s %s without a probe report: %v (%s)", pod.Name, cur.Status.Phase, err, describe(cur))
			}
			t.Logf("%s: %s", pod.Name, r)
			return cur, r
		}
		// A container the kubelet cannot create: that is the outcome.
		for _, st := range cur.Status.ContainerStatuses {
			if w := st.State.Waiting; w != nil && strings.HasSuffix(w.Reason, "Error") && w.Message != "" {
				return cur, nil
			}
		}
		if time.Now().After(deadline) {
			return cur, nil
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func ptrTo[T any](v T) *T { return &v }

// probePod is a pod in namespace running the probe with steps as one
// container named probe.
func probePod(namespace, name, steps string, edit ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "probe", Image: node.ProbeImage, Args: []string{steps},
		}}},
	}
	for _, e := range edit {
		e(p)
	}
	return p
}

// hostPathVolume mounts node path at mountPath in the pod's first container.
func hostPathVolume(name, path, mountPath string, readOnly bool, typ corev1.HostPathType) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		v := corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}}}
		if typ != "" {
			v.HostPath.Type = &typ
		}
		p.Spec.Volumes = append(p.Spec.Volumes, v)
		c := &p.Spec.Containers[0]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: mountPath, ReadOnly: readOnly})
	}
}

// eventually polls cond (bounded by podWait).
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(podWait)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s (last: %s)", what, podWait, last)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
