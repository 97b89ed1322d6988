package reports

import (
	"context"
	"testing"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
)

func daemonSet(name string, hostPID bool) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: "uid-" + "name"},
		Spec: appsv1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a"}}},
		}},
	}
	if hostPID {
		s := &ds.Spec.Template.Spec
		s.HostPID = true
		// One failure: a writable known-safe path (no unknown-path rule),
		// as a non-root uid and group (no hostpid-as-root; hostpid-shared-uid
		// warns).
		s.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/run/xtables.lock"}}}}
		s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "v", MountPath: "/x"}}
		user := int64(1000)
		s.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &user, RunAsGroup: &user}
	}
	return ds
}

// TestBuildIsStable: building again from the same verdicts, later, gives a
// Report that Same calls unchanged (timestamps kept), and a changed verdict
// is a change.
func TestBuildIsStable(t *testing.T) {
	p, err := policy.New(config.Defaults(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var results = func(hostPID bool) []openreportsv1alpha1.ReportResult {
		var out []openreportsv1alpha1.ReportResult
		for _, ds := range []*appsv1.DaemonSet{daemonSet("b", hostPID), daemonSet("a", false)} {
			ev, err := Evaluate(context.Background(), p, ds)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, Results(ev)...)
		}
		return out
	}
	first := Build("ns", results(true), nil, metav1.Timestamp{Seconds: 100}, 0)
	if first.Summary.Fail != 1 || first.Summary.Warn != 1 || first.Summary.Pass != len(first.Results)-2 || first.Results[0].Subjects[0].Name != "a" {
		t.Fatalf("summary %+v, first subject %s", first.Summary, first.Results[0].Subjects[0].Name)
	}
	again := Build("ns", results(true), first, metav1.Timestamp{Seconds: 200}, 0)
	if !Same(first, again) {
		t.Error("the same verdicts built later are not the same Report")
	}
	fixed := Build("ns", results(false), first, metav1.Timestamp{Seconds: 300}, 0)
	if Same(first, fixed) || fixed.Summary.Fail != 0 {
		t.Errorf("a fixed DaemonSet changes nothing: %+v", fixed.Summary)
	}
	capped := Build("ns", results(true), nil, metav1.Timestamp{Seconds: 100}, 3)
	// The cap keeps the failure and the warning, and drops the passes.
	if len(capped.Results) != 2 || capped.Results[0].Result == "pass" || capped.Results[1].Result == "pass" || capped.Summary != first.Summary || capped.Configuration.Limits.MaxResults != 3 {
		t.Errorf("capped: %d results, summary %+v", len(capped.Results), capped.Summary)
	}
}
