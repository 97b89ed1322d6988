package webhook

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/daemonguard/daemonguard/internal/policy"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func namespacedKinds(gk schema.GroupKind, _ string) (bool, error) {
	switch gk.Kind {
	case "ConfigMap", "GPUPolicy":
		return true, nil
	case "ClusterPolicy":
		return false, nil
	}
	return false, errors.New("no matches for kind " + gk.Kind)
}

func ownedDaemonSet(name string, owners ...metav1.OwnerReference) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "gpu", OwnerReferences: owners}}
}

func socketVerdict() *policy.Verdict {
	return &policy.Verdict{Violations: []policy.Violation{
		{Rule: "container-runtime-socket", Action: policy.Deny, Field: "spec.template.spec.containers[0].volumeMounts[0]",
			Message: `container "agent" mounts host path "/run/containerd/containerd.sock"; whoever reaches it controls every container on the node`},
		{Rule: "privileged-container", Action: policy.Warn, Field: "spec.template.spec.containers[0].securityContext.privileged", Message: "privileged"},
	}}
}

func newTestRecorder(t *testing.T, opts OwnerEventsOptions) (*ownerEvents, kubernetes.Interface, *fakeClock, *prometheus.Registry) {
	t.Helper()
	c := fake.NewClientset()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
	r := newOwnerEvents(opts, func(ns string) eventWriter { return c.CoreV1().Events(ns) }, namespacedKinds, m, logr.Discard())
	r.now = clk.now
	return r, c, clk, reg
}

func ownerEventsIn(t *testing.T, c kubernetes.Interface) []corev1.Event {
	t.Helper()
	list, err := c.CoreV1().Events("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// drain observes every queued denial, as Start does.
func drain(r *ownerEvents) {
	for {
		select {
		case d := <-r.queue:
			r.observe(context.Background(), d)
		default:
			return
		}
	}
}

// TestOwnerEventCountsRetries: an operator retrying every second for a
// minute and a half leaves one Event on its resource, written at once and
// then at most every interval, whose count is every denial.
func TestOwnerEventCountsRetries(t *testing.T) {
	r, c, clk, m := newTestRecorder(t, OwnerEventsOptions{Interval: 10 * time.Second})
	yes := true
	ds := ownedDaemonSet("gpu-feature-discovery",
		metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "not-the-controller", UID: "u0"},
		metav1.OwnerReference{APIVersion: "nvidia.com/v1", Kind: "GPUPolicy", Name: "gpu-policy", UID: "u1", Controller: &yes})
	for i := range 90 {
		r.denied("gpu", ds, socketVerdict())
		drain(r)
		if i == 0 {
			evs := ownerEventsIn(t, c)
			if len(evs) != 1 {
				t.Fatalf("after the first denial: %d events, want 1 at once", len(evs))
			}
		}
		clk.advance(time.Second)
		r.flush(context.Background())
	}
	clk.advance(10 * time.Second)
	r.flush(context.Background())
	evs := ownerEventsIn(t, c)
	if len(evs) != 1 {
		t.Fatalf("%d events, want 1", len(evs))
	}
	e := evs[0]
	if e.Count != 90 {
		t.Errorf("count %d, want 90", e.Count)
	}
	if got := e.InvolvedObject; got.Kind != "GPUPolicy" || got.Name != "gpu-policy" || got.UID != "u1" || got.Namespace != "gpu" || got.APIVersion != "nvidia.com/v1" || e.Namespace != "gpu" {
		t.Errorf("involvedObject %+v in %s, want the controller owner in gpu", got, e.Namespace)
	}
	if e.Type != corev1.EventTypeWarning || e.Reason != ReasonDaemonSetDenied || e.Related == nil || e.Related.Name != "gpu-feature-discovery" {
		t.Errorf("event %+v", e)
	}
	for _, want := range []string{"daemonguard denied DaemonSet gpu/gpu-feature-discovery, which this GPUPolicy owns, by container-runtime-socket.",
		"[container-runtime-socket] spec.template.spec.containers[0].volumeMounts[0]: container \"agent\" mounts",
		"{namespaces: [gpu], daemonSets: [gpu-feature-discovery], rules: [container-runtime-socket]}"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message lacks %q:\n%s", want, e.Message)
		}
	}
	if strings.Contains(e.Message, "privileged-container") {
		t.Errorf("message names a rule that only warned:\n%s", e.Message)
	}
	if got := e.LastTimestamp.Sub(e.FirstTimestamp.Time); got != 89*time.Second {
		t.Errorf("first to last %s, want 89s", got)
	}
	created := counter(t, m, "daemonguard_owner_events_total", map[string]string{"result": "created"})
	updated := counter(t, m, "daemonguard_owner_events_total", map[string]string{"result": "updated"})
	// One create, then a write per interval: 90 s of retries, about nine.
	if created != 1 || updated < 8 || updated > 10 {
		t.Errorf("writes: %v created, %v updated; want 1 and one per 10s", created, updated)
	}
}

// TestOwnerEventsKeysAndScopes: an Event per owner, DaemonSet and set of
// rules; a cluster-scoped owner's Event lives in default; an owner of a
// kind the API server does not serve, and a DaemonSet without an owner, get
// none; the denials are counted per owner kind.
func TestOwnerEventsKeysAndScopes(t *testing.T) {
	r, c, _, m := newTestRecorder(t, OwnerEventsOptions{})
	cm := metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "operator", UID: "u1"}
	r.denied("gpu", ownedDaemonSet("a", cm), socketVerdict())
	r.denied("gpu", ownedDaemonSet("a", cm), socketVerdict())
	r.denied("gpu", ownedDaemonSet("b", cm), socketVerdict())
	r.denied("gpu", ownedDaemonSet("c", metav1.OwnerReference{APIVersion: "nvidia.com/v1", Kind: "ClusterPolicy", Name: "cluster-policy", UID: "u2"}), socketVerdict())
	r.denied("gpu", ownedDaemonSet("d", metav1.OwnerReference{APIVersion: "gone.example/v1", Kind: "Gone", Name: "x", UID: "u3"}), socketVerdict())
	r.denied("gpu", ownedDaemonSet("e"), socketVerdict())
	drain(r)
	byObject := map[string]corev1.Event{}
	for _, e := range ownerEventsIn(t, c) {
		byObject[e.Namespace+"/"+e.InvolvedObject.Kind+"/"+e.InvolvedObject.Name+"/"+e.Related.Name] = e
	}
	if len(byObject) != 3 {
		t.Errorf("events %v, want one for a, b and c", byObject)
	}
	if e, ok := byObject["default/ClusterPolicy/cluster-policy/c"]; !ok || e.InvolvedObject.Namespace != "" {
		t.Errorf("cluster-scoped owner: %+v", e)
	}
	if got := counter(t, m, "daemonguard_owned_denials_total", map[string]string{"owner_kind": "ConfigMap", "owner_group": ""}); got != 3 {
		t.Errorf("owned denials of ConfigMaps %v, want 3", got)
	}
	if got := counter(t, m, "daemonguard_owned_denials_total", map[string]string{"owner_kind": "ClusterPolicy", "owner_group": "nvidia.com"}); got != 1 {
		t.Errorf("owned denials of ClusterPolicies %v, want 1", got)
	}
	if got := counter(t, m, "daemonguard_owner_events_total", map[string]string{"result": "skipped"}); got != 1 {
		t.Errorf("skipped %v, want 1 (the unserved kind)", got)
	}
}

// TestOwnerEventsNeverBlock: a full queue drops and counts, it never waits.
func TestOwnerEventsNeverBlock(t *testing.T) {
	r, _, _, m := newTestRecorder(t, OwnerEventsOptions{QueueSize: 2})
	ds := ownedDaemonSet("a", metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: "operator", UID: "u1"})
	done := make(chan struct{})
	go func() {
		for range 5 {
			r.denied("gpu", ds, socketVerdict())
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("denied blocked on a full queue")
	}
	if got := counter(t, m, "daemonguard_owner_events_total", map[string]string{"result": "dropped"}); got != 3 {
		t.Errorf("dropped %v, want 3", got)
	}
}
