package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/test/internal/poll"
	"github.com/daemonguard/daemonguard/webhook"
)

// TestDenialIsAnEventOnTheOwner: an operator (a ConfigMap stands in for its
// resource) whose DaemonSet mounts the containerd socket is denied; within
// 10 seconds its resource carries a Warning Event naming the rule and the
// exemption, and 100 more attempts leave that one Event, counting them all,
// not 100 Events.
func TestDenialIsAnEventOnTheOwner(t *testing.T) {
	ns := namespace(t)
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "gpu-operator", Namespace: ns}}
	if err := c.Create(ctx, owner); err != nil {
		t.Fatal(err)
	}
	yes := true
	attempt := func() error {
		ds := daemonSet(ns, "gpu-agent", func(spec *corev1.PodSpec) {
			spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "sock", MountPath: "/run/containerd/containerd.sock", ReadOnly: true}}
			spec.Volumes = []corev1.Volume{hostPathVolume("sock", "/run/containerd/containerd.sock")}
		})
		ds.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: &yes}}
		return c.Create(ctx, ds)
	}
	before, err := env.Counter("daemonguard_owned_denials_total", map[string]string{"owner_kind": "ConfigMap"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	assertDenied(t, attempt(), "container-runtime-socket", "spec.template.spec.containers[0].volumeMounts[0]")

	onOwner := func() []corev1.Event {
		var list corev1.EventList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var out []corev1.Event
		for _, e := range list.Items {
			if e.InvolvedObject.UID == owner.UID && e.Reason == webhook.ReasonDaemonSetDenied {
				out = append(out, e)
			}
		}
		return out
	}
	poll.Until(t, 10*time.Second, "an Event on the owning ConfigMap", func() (bool, string) {
		evs := onOwner()
		return len(evs) == 1, fmt.Sprintf("%d events", len(evs))
	})
	t.Logf("first Event on the owner %s after the denial", time.Since(start).Round(time.Millisecond))
	e := onOwner()[0]
	for _, want := range []string{"container-runtime-socket", "gpu-agent", "daemonSets: [gpu-agent]", `"/run/containerd/containerd.sock"`} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("the Event's message lacks %q:\n%s", want, e.Message)
		}
	}
	if e.Type != corev1.EventTypeWarning || e.InvolvedObject.Kind != "ConfigMap" || e.InvolvedObject.Name != owner.Name || e.InvolvedObject.Namespace != ns {
		t.Errorf("event %+v", e)
	}

	// An operator's reconcile loop: 100 more attempts, a few a second.
	const retries = 100
	retryStart := time.Now()
	for i := range retries {
		if err := attempt(); err == nil {
			t.Fatalf("attempt %d admitted", i)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d retries in %s", retries, time.Since(retryStart).Round(time.Millisecond))
	var last []corev1.Event
	poll.Until(t, 20*time.Second, "one Event counting every denial", func() (bool, string) {
		last = onOwner()
		if len(last) != 1 {
			return false, fmt.Sprintf("%d events", len(last))
		}
		return last[0].Count == retries+1, fmt.Sprintf("count %d", last[0].Count)
	})
	after, err := env.Counter("daemonguard_owned_denials_total", map[string]string{"owner_kind": "ConfigMap"})
	if err != nil {
		t.Fatal(err)
	}
	if after-before != retries+1 {
		t.Errorf("daemonguard_owned_denials_total{owner_kind=ConfigMap} rose by %v, want %d", after-before, retries+1)
	}
	writes, _ := env.Counter("daemonguard_owner_events_total", map[string]string{"result": "updated"})
	t.Logf("one Event, count %d, %v count updates written", last[0].Count, writes)
}
