package defaults

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/daemonguard/daemonguard/test/dstest"
)

// The API server's own defaulting is compared with this package on every
// corpus DaemonSet in test/integration (TestOfflineDefaultsAreTheAPIServers);
// these cases pin what the rules and mutators read.
func TestDaemonSet(t *testing.T) {
	ds := dstest.DaemonSet(dstest.HostVolume("h", "/var/log"), dstest.Container("agent", func(c *corev1.Container) {
		c.Ports = []corev1.ContainerPort{{ContainerPort: 9100, HostPort: 9100}}
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("0.0001")}
	}))
	DaemonSet(ds)
	spec := &ds.Spec.Template.Spec
	if s := ds.Spec.UpdateStrategy; s.Type != appsv1.RollingUpdateDaemonSetStrategyType || s.RollingUpdate.MaxSurge.IntValue() != 0 || s.RollingUpdate.MaxUnavailable.IntValue() != 1 {
		t.Errorf("update strategy %+v", s)
	}
	if *ds.Spec.RevisionHistoryLimit != 10 || spec.SecurityContext == nil || *spec.Volumes[0].HostPath.Type != corev1.HostPathUnset {
		t.Errorf("defaults missing: %+v", spec)
	}
	c := spec.Containers[0]
	if c.Ports[0].Protocol != corev1.ProtocolTCP || c.ImagePullPolicy != corev1.PullIfNotPresent { // agent:1.0
		t.Errorf("container defaults: %+v", c)
	}
	if q := c.Resources.Requests[corev1.ResourceCPU]; q.String() != "1m" {
		t.Errorf("cpu request %s, want rounded up to 1m", q.String())
	}
	again := ds.DeepCopy()
	DaemonSet(again)
	if d := cmp.Diff(ds, again); d != "" {
		t.Errorf("not idempotent:\n%s", d)
	}
}

func TestPullPolicy(t *testing.T) {
	for image, want := range map[string]corev1.PullPolicy{
		"busybox":                 corev1.PullAlways,
		"busybox:latest":          corev1.PullAlways,
		"busybox:1.36":            corev1.PullIfNotPresent,
		"registry:5000/busybox":   corev1.PullAlways,
		"registry:5000/busybox:1": corev1.PullIfNotPresent,
		"busybox@sha256:0123":     corev1.PullIfNotPresent,
	} {
		if got := pullPolicy(image); got != want {
			t.Errorf("%s: %s, want %s", image, got, want)
		}
	}
}
