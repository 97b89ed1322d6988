package mutators

import (
	"github.com/daemonguard/daemonguard/test/dstest"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

func TestResources(t *testing.T) {
	const (
		c0 = "spec.template.spec.containers[0].resources"
		c1 = "spec.template.spec.containers[1].resources"
		i0 = "spec.template.spec.initContainers[0].resources"
	)
	defReq, defLim := rl("cpu", "50m", "memory", "64Mi"), rl("cpu", "200m", "memory", "128Mi")
	all4 := func(at string) []string {
		return []string{at + ".requests.cpu", at + ".limits.cpu", at + ".requests.memory", at + ".limits.memory"}
	}
	type res struct{ req, lim corev1.ResourceList }
	cases := map[string]struct {
		requests, limits corev1.ResourceList // mutator defaults; nil means the default policy's
		containers       []res
		init             []res
		podLevel         bool
		want             []res // containers after
		wantInit         []res
		wantChanged      []string
		wantWarning      string
	}{
		"empty container gets every default": {
			containers:  []res{{}},
			want:        []res{{defReq, defLim}},
			wantChanged: all4(c0),
		},
		"fully set container untouched": {
			containers: []res{{rl("cpu", "1", "memory", "1Gi"), rl("cpu", "2", "memory", "2Gi")}},
			want:       []res{{rl("cpu", "1", "memory", "1Gi"), rl("cpu", "2", "memory", "2Gi")}},
		},
		"existing request kept, limit filled": {
			containers:  []res{{rl("cpu", "10m"), nil}},
			want:        []res{{rl("cpu", "10m", "memory", "64Mi"), defLim}},
			wantChanged: []string{c0 + ".limits.cpu", c0 + ".requests.memory", c0 + ".limits.memory"},
		},
		"existing limit kept, request filled": {
			containers:  []res{{nil, rl("memory", "512Mi")}},
			want:        []res{{defReq, rl("cpu", "200m", "memory", "512Mi")}},
			wantChanged: []string{c0 + ".requests.cpu", c0 + ".limits.cpu", c0 + ".requests.memory"},
		},
		"default request lowered to an existing lower limit": {
			containers:  []res{{nil, rl("cpu", "20m", "memory", "32Mi")}},
			want:        []res{{rl("cpu", "20m", "memory", "32Mi"), rl("cpu", "20m", "memory", "32Mi")}},
			wantChanged: []string{c0 + ".requests.cpu", c0 + ".requests.memory"},
		},
		"default limit raised to an existing higher request": {
			containers:  []res{{rl("cpu", "1", "memory", "1Gi"), nil}},
			want:        []res{{rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi")}},
			wantChanged: []string{c0 + ".limits.cpu", c0 + ".limits.memory"},
		},
		"request equal to the default limit needs no raise": {
			containers:  []res{{rl("cpu", "200m", "memory", "128Mi"), nil}},
			want:        []res{{rl("cpu", "200m", "memory", "128Mi"), defLim}},
			wantChanged: []string{c0 + ".limits.cpu", c0 + ".limits.memory"},
		},
		"author's request above author's limit is left for the API server": {
			containers: []res{{rl("cpu", "2", "memory", "1Gi"), rl("cpu", "1", "memory", "512Mi")}},
			want:       []res{{rl("cpu", "2", "memory", "1Gi"), rl("cpu", "1", "memory", "512Mi")}},
		},
		"init containers are filled, and reported first": {
			init:        []res{{}},
			containers:  []res{{}},
			want:        []res{{defReq, defLim}},
			wantInit:    []res{{defReq, defLim}},
			wantChanged: append(all4(i0), all4(c0)...),
		},
		"every container": {
			containers:  []res{{rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi")}, {}},
			want:        []res{{rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi")}, {defReq, defLim}},
			wantChanged: all4(c1),
		},
		"pod-level resources skip with a warning": {
			podLevel:    true,
			containers:  []res{{}},
			init:        []res{{}},
			want:        []res{{}},
			wantInit:    []res{{}},
			wantWarning: "container resources were not set: spec.template.spec.resources sets pod-level resources",
		},
		"other resources of the author are kept": {
			containers:  []res{{rl("nvidia.com/gpu", "1"), rl("nvidia.com/gpu", "1")}},
			want:        []res{{rl("cpu", "50m", "memory", "64Mi", "nvidia.com/gpu", "1"), rl("cpu", "200m", "memory", "128Mi", "nvidia.com/gpu", "1")}},
			wantChanged: all4(c0),
		},
		"custom resource names": {
			requests:    rl("ephemeral-storage", "100Mi", "example.com/widget", "1"),
			limits:      rl("ephemeral-storage", "1Gi"),
			containers:  []res{{}},
			want:        []res{{rl("ephemeral-storage", "100Mi", "example.com/widget", "1"), rl("ephemeral-storage", "1Gi")}},
			wantChanged: []string{c0 + ".requests.ephemeral-storage", c0 + ".limits.ephemeral-storage", c0 + ".requests.example.com/widget"},
		},
		"request-only default lowered to an existing limit": {
			requests:    rl("cpu", "100m"),
			limits:      corev1.ResourceList{},
			containers:  []res{{nil, rl("cpu", "10m")}},
			want:        []res{{rl("cpu", "10m"), rl("cpu", "10m")}},
			wantChanged: []string{c0 + ".requests.cpu"},
		},
		"limit-only default raised to an existing request": {
			requests:    corev1.ResourceList{},
			limits:      rl("memory", "128Mi"),
			containers:  []res{{rl("memory", "1Gi"), nil}},
			want:        []res{{rl("memory", "1Gi"), rl("memory", "1Gi")}},
			wantChanged: []string{c0 + ".limits.memory"},
		},
		"defaults with request above limit still never produce request > limit": {
			requests:    rl("cpu", "500m"),
			limits:      rl("cpu", "200m"),
			containers:  []res{{}},
			want:        []res{{rl("cpu", "500m"), rl("cpu", "500m")}},
			wantChanged: []string{c0 + ".requests.cpu", c0 + ".limits.cpu"},
		},
		"zero request default": {
			requests:    rl("cpu", "0"),
			limits:      corev1.ResourceList{},
			containers:  []res{{}},
			want:        []res{{rl("cpu", "0"), nil}},
			wantChanged: []string{c0 + ".requests.cpu"},
		},
		"no defaults at all": {
			requests:   corev1.ResourceList{},
			limits:     corev1.ResourceList{},
			containers: []res{{}},
			want:       []res{{}},
		},
		"no containers": {},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			reqs, lims := tc.requests, tc.limits
			if reqs == nil {
				reqs = defReq
			}
			if lims == nil {
				lims = defLim
			}
			m := NewResources(reqs, lims)
			if mutatorName(m) != "resources" {
				t.Errorf("Name() = %q", mutatorName(m))
			}
			spec := corev1.PodSpec{}
			build := func(in []res) []corev1.Container {
				var out []corev1.Container
				for _, r := range in {
					out = append(out, corev1.Container{Name: "c", Resources: corev1.ResourceRequirements{
						Requests: r.req.DeepCopy(), Limits: r.lim.DeepCopy()}})
				}
				return out
			}
			spec.Containers, spec.InitContainers = build(tc.containers), build(tc.init)
			if tc.podLevel {
				spec.Resources = &corev1.ResourceRequirements{Limits: rl("cpu", "1")}
			}
			ds := dstest.DaemonSet(dstest.Spec(spec))
			defaultsBefore := []corev1.ResourceList{reqs.DeepCopy(), lims.DeepCopy()}
			r := m.Mutate(t.Context(), ds)
			assertStrings(t, "Changed", r.Changed(), tc.wantChanged)
			if tc.wantWarning == "" && len(r.Warnings) != 0 {
				t.Errorf("Warnings = %q", r.Warnings)
			}
			if tc.wantWarning != "" && (len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], tc.wantWarning)) {
				t.Errorf("Warnings = %q, want one containing %q", r.Warnings, tc.wantWarning)
			}
			check := func(kind string, got []corev1.Container, want []res) {
				if len(got) != len(want) {
					t.Fatalf("%s: %d, want %d", kind, len(got), len(want))
				}
				for i := range want {
					assertList(t, kind+" requests", got[i].Resources.Requests, want[i].req)
					assertList(t, kind+" limits", got[i].Resources.Limits, want[i].lim)
				}
			}
			check("containers", ds.Spec.Template.Spec.Containers, tc.want)
			check("initContainers", ds.Spec.Template.Spec.InitContainers, tc.wantInit)
			if !equality.Semantic.DeepEqual(defaultsBefore, []corev1.ResourceList{reqs, lims}) {
				t.Errorf("mutating changed the mutator's defaults")
			}
			assertConverged(t, m, ds)
		})
	}
}

func TestResourcesSkipEphemeralContainers(t *testing.T) {
	ds := dstest.DaemonSet(dstest.Spec(corev1.PodSpec{EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug"}}}}))
	r := NewResources(rl("cpu", "50m"), rl("cpu", "100m")).Mutate(t.Context(), ds)
	if len(r.Changed()) != 0 {
		t.Errorf("Changed = %q: ephemeral containers may not set resources", r.Changed())
	}
	if ec := ds.Spec.Template.Spec.EphemeralContainers[0]; ec.Resources.Requests != nil || ec.Resources.Limits != nil {
		t.Errorf("ephemeral container resources set: %+v", ec.Resources)
	}
}

// TestResourcesQuantitiesDoNotAlias checks that injected quantities are
// copies: a Policy and its defaults are shared by concurrent reviews.
func TestResourcesQuantitiesDoNotAlias(t *testing.T) {
	reqs, lims := rl("cpu", "50m"), rl("cpu", "200m")
	m := NewResources(reqs, lims)
	ds := dstest.DaemonSet(dstest.Spec(corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}))
	m.Mutate(t.Context(), ds)
	got := ds.Spec.Template.Spec.Containers[0].Resources
	cpu := got.Requests[corev1.ResourceCPU]
	cpu.Add(q("1"))
	got.Requests[corev1.ResourceCPU] = cpu
	if want := q("50m"); reqs.Cpu().Cmp(want) != 0 {
		t.Errorf("default request changed to %s", reqs.Cpu())
	}
}
