package defaults

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func withNewerFields() *appsv1.DaemonSet {
	strict, enabled, unmasked, def := corev1.SupplementalGroupsPolicyStrict, corev1.RecursiveReadOnlyEnabled, corev1.UnmaskedProcMount, corev1.DefaultProcMount
	f := false
	c := func(pm *corev1.ProcMountType) corev1.Container {
		return corev1.Container{Name: "c", SecurityContext: &corev1.SecurityContext{ProcMount: pm},
			VolumeMounts: []corev1.VolumeMount{{Name: "a"}, {Name: "b", RecursiveReadOnly: &enabled}}}
	}
	ds := &appsv1.DaemonSet{}
	ds.Spec.Template.Spec = corev1.PodSpec{
		HostUsers:       &f,
		SecurityContext: &corev1.PodSecurityContext{SupplementalGroupsPolicy: &strict},
		InitContainers:  []corev1.Container{c(&def)},
		Containers:      []corev1.Container{c(nil), c(&unmasked)},
	}
	return ds
}

func TestAsServerKeeps(t *testing.T) {
	all := []string{
		"spec.template.spec.securityContext.supplementalGroupsPolicy",
		"spec.template.spec.hostUsers",
		"spec.template.spec.initContainers[0].volumeMounts[1].recursiveReadOnly",
		"spec.template.spec.containers[0].volumeMounts[1].recursiveReadOnly",
		"spec.template.spec.containers[1].volumeMounts[1].recursiveReadOnly",
		"spec.template.spec.containers[1].securityContext.procMount",
	}
	for minor, want := range map[int][]string{
		30: all,
		31: {all[0], all[1], all[5]},
		32: {all[0], all[1], all[5]},
		33: nil, 36: nil, 37: nil, 0: nil,
	} {
		ds := withNewerFields()
		got := AsServerKeeps(ds, minor)
		if !slices.Equal(got, want) {
			t.Errorf("1.%d changed %q, want %q", minor, got, want)
		}
		for _, p := range got {
			if _, ok := NewerFieldAt(p); !ok {
				t.Errorf("changed %s, which is no NewerField", p)
			}
		}
		if again := AsServerKeeps(ds, minor); len(again) != 0 {
			t.Errorf("1.%d: not idempotent, changed %q the second time", minor, again)
		}
		spec := ds.Spec.Template.Spec
		if minor != 0 && minor < 33 && (*spec.Containers[1].SecurityContext.ProcMount != corev1.DefaultProcMount || spec.HostUsers != nil || spec.SecurityContext.SupplementalGroupsPolicy != nil) {
			t.Errorf("1.%d: %+v", minor, spec)
		}
	}
}

func TestNewerFieldAt(t *testing.T) {
	for path, want := range map[string]bool{
		"spec.template.spec.containers[0].volumeMounts[12].recursiveReadOnly": true,
		"spec.template.spec.containers[0].volumeMounts.recursiveReadOnly":     false,
		"spec.template.spec.containers[x].securityContext.procMount":          false,
		"spec.template.spec.initContainers[3].securityContext.procMount":      true,
		"spec.template.spec.hostUsers":                                        true,
		"spec.template.spec.hostUsersX":                                       false,
	} {
		if _, got := NewerFieldAt(path); got != want {
			t.Errorf("NewerFieldAt(%q) = %v, want %v", path, got, want)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]int{"1.30": 30, "v1.30.14": 30, "1.37.2": 37, "1.33": 33} {
		if got, err := ParseVersion(in); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"1.29", "1.38", "2.30", "130", "", "1.x"} {
		if _, err := ParseVersion(in); err == nil {
			t.Errorf("ParseVersion(%q): want an error", in)
		}
	}
}

// TestVersionsAreThePinnedAPIServers: Oldest and Newest are the
// kube-apiserver versions make test runs the control-plane suites on
// (hack/tools/k8s-oldest and hack/tools/k8s pin them).
func TestVersionsAreThePinnedAPIServers(t *testing.T) {
	for dir, want := range map[string]int{"k8s-oldest": Oldest, "k8s": Newest} {
		data, err := os.ReadFile(filepath.Join("..", "..", "hack", "tools", dir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^\s*(?:require\s+)?k8s\.io/kubernetes (v\S+)`).FindSubmatch(data)
		if m == nil {
			t.Fatalf("hack/tools/%s/go.mod requires no k8s.io/kubernetes", dir)
		}
		got, err := ParseVersion(string(m[1]))
		if err != nil || got != want {
			t.Errorf("hack/tools/%s/go.mod pins k8s.io/kubernetes %s (%v), want 1.%d", dir, m[1], err, want)
		}
	}
}
