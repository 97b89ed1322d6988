package simwebhook

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var runsOn = regexp.MustCompile(`runs on (\d+) of (\d+) nodes`)

// TestCoverageWarningIsWhatHappens: the webhook injects the control-plane
// toleration, then warns that the GPU pool is not tolerated, with a count;
// the controller then runs exactly that many pods, on no GPU node.
func TestCoverageWarningIsWhatHappens(t *testing.T) {
	ns := namespace(t)
	ds := daemonSet(ns, "agent")
	warnings.Take()
	if err := c.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	w := finding(warnings.Take(), "node-coverage")
	m := runsOn.FindStringSubmatch(w)
	if m == nil || !strings.Contains(w, "dedicated=gpu:NoSchedule are not tolerated") || strings.Contains(w, "control-plane") {
		t.Fatalf("node-coverage warning %q: want the GPU pool named and the control plane covered (its toleration is injected)", w)
	}
	want, _ := strconv.Atoi(m[1])
	eventually(t, "daemon pods", func() (bool, string) {
		pods := podsByNode(t, ds)
		return len(pods) == want, fmt.Sprintf("%d pods, warned %d", len(pods), want)
	})
	for node := range podsByNode(t, ds) {
		if poolOf(t, node) == "gpu" {
			t.Errorf("a daemon pod on GPU node %s, which the warning said is not tolerated", node)
		}
	}
}

// TestMissingClassWarningIsWhatHappens: a priorityClassName the cluster does
// not have is admitted with a warning, and the controller creates no pod.
func TestMissingClassWarningIsWhatHappens(t *testing.T) {
	ns := namespace(t)
	ds := daemonSet(ns, "classless", func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.PriorityClassName = "node-agents-typo" })
	warnings.Take()
	if err := c.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	if w := finding(warnings.Take(), "priority-class-missing"); !strings.Contains(w, `"node-agents-typo" does not exist`) {
		t.Fatalf("priority-class-missing warning %q", w)
	}
	eventually(t, "FailedCreate event", func() (bool, string) {
		var list corev1.EventList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		for _, e := range list.Items {
			if e.InvolvedObject.Name == ds.Name && e.Reason == "FailedCreate" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events", len(list.Items))
	})
	if pods := podsByNode(t, ds); len(pods) != 0 {
		t.Fatalf("%d pods exist; the warning said none would", len(pods))
	}
}

// TestDoesNotFitWarningIsWhatHappens: requests above the small pool's
// allocatable are warned about by pool and count; exactly that many pods
// stay Pending, all on that pool.
func TestDoesNotFitWarningIsWhatHappens(t *testing.T) {
	ns := namespace(t)
	ds := daemonSet(ns, "hungry", func(ds *appsv1.DaemonSet) {
		s := &ds.Spec.Template.Spec
		s.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpExists}}
		s.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}
	})
	warnings.Take()
	if err := c.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	w := finding(warnings.Take(), "does-not-fit")
	m := regexp.MustCompile(`(\d+) nodes? in pool node.kubernetes.io/pool=([a-z-]+)`).FindStringSubmatch(w)
	if m == nil {
		t.Fatalf("does-not-fit warning %q: want a count and a pool", w)
	}
	want, _ := strconv.Atoi(m[1])
	eventually(t, "pending pods", func() (bool, string) {
		pending := 0
		for node, phase := range podsByNode(t, ds) {
			if phase == corev1.PodPending {
				pending++
				if p := poolOf(t, node); p != m[2] {
					return false, fmt.Sprintf("pod pending on %s of pool %s", node, p)
				}
			}
		}
		return pending == want, fmt.Sprintf("%d pending, warned %d", pending, want)
	})
}

// TestHostPortSurgeDenied: enforce by default: the DaemonSet that would
// stall its first rollout (test/sim shows the stall) is never stored.
func TestHostPortSurgeDenied(t *testing.T) {
	ns := namespace(t)
	one := intstr.FromInt32(1)
	zero := intstr.FromInt32(0)
	ds := daemonSet(ns, "exporter", func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 9100, HostPort: 9100}}
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &one, MaxUnavailable: &zero}}
	})
	err := c.Create(ctx, ds)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "[hostport-surge]") || !strings.Contains(err.Error(), "set maxSurge: 0") {
		t.Fatalf("create: %v; want a 422 from hostport-surge with the fix", err)
	}
}
