package mutators

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/daemonguard/daemonguard/test/dstest"
)

// memoryRule and cpuRule are the default policy's limit rules (cpu is off by
// default; cases that turn it on use cpuRule).
var (
	memoryRule = LimitRule{Minimum: q("512Mi"), Multiplier: 2}
	cpuRule    = LimitRule{Minimum: q("1"), Multiplier: 2}
)

func defaultLimits() map[corev1.ResourceName]LimitRule {
	return map[corev1.ResourceName]LimitRule{corev1.ResourceMemory: memoryRule}
}

var systemClasses = []string{"system-node-critical", "system-cluster-critical"}

func TestResources(t *testing.T) {
	const (
		c0 = "spec.template.spec.containers[0].resources"
		c1 = "spec.template.spec.containers[1].resources"
		i0 = "spec.template.spec.initContainers[0].resources"
	)
	defReq := rl("cpu", "50m", "memory", "64Mi")
	defAll := func(at string) []string {
		return []string{at + ".requests.cpu", at + ".requests.memory", at + ".limits.memory"}
	}
	withCPU := map[corev1.ResourceName]LimitRule{corev1.ResourceMemory: memoryRule, corev1.ResourceCPU: cpuRule}
	type res struct{ req, lim corev1.ResourceList }
	cases := map[string]struct {
		requests    corev1.ResourceList               // nil means the default policy's
		limits      map[corev1.ResourceName]LimitRule // nil means the default policy's
		skip        []string                          // nil means the default policy's
		class       string
		containers  []res
		init        []res
		podLevel    bool
		want        []res // containers after
		wantInit    []res
		wantChanged []string
		wantNotes   []string
		wantWarning string
	}{
		"empty container gets requests and a 512Mi memory limit, no CPU limit": {
			containers:  []res{{}},
			want:        []res{{defReq, rl("memory", "512Mi")}},
			wantChanged: defAll(c0),
			wantNotes:   []string{`resources: container "c" gets limits.memory: 512Mi (the larger of 512Mi and 2× its request 64Mi); set resources.limits.memory to choose your own`},
		},
		"fully set container untouched": {
			containers: []res{{rl("cpu", "1", "memory", "1Gi"), rl("cpu", "2", "memory", "2Gi")}},
			want:       []res{{rl("cpu", "1", "memory", "1Gi"), rl("cpu", "2", "memory", "2Gi")}},
		},
		"a request above the old 128Mi default limit gets twice its request": {
			containers:  []res{{rl("cpu", "100m", "memory", "1Gi"), nil}},
			want:        []res{{rl("cpu", "100m", "memory", "1Gi"), rl("memory", "2Gi")}},
			wantChanged: []string{c0 + ".limits.memory"},
			wantNotes:   []string{`resources: container "c" gets limits.memory: 2Gi (the larger of 512Mi and 2× its request 1Gi); set resources.limits.memory to choose your own`},
		},
		"a request of 200Mi gets the 512Mi minimum": {
			containers:  []res{{rl("memory", "200Mi"), nil}},
			want:        []res{{rl("cpu", "50m", "memory", "200Mi"), rl("memory", "512Mi")}},
			wantChanged: []string{c0 + ".requests.cpu", c0 + ".limits.memory"},
		},
		"a request of 300Mi gets 600Mi": {
			containers:  []res{{rl("memory", "300Mi"), nil}},
			want:        []res{{rl("cpu", "50m", "memory", "300Mi"), rl("memory", "600Mi")}},
			wantChanged: []string{c0 + ".requests.cpu", c0 + ".limits.memory"},
		},
		"a request at the minimum is not pinned: twice it": {
			containers:  []res{{rl("memory", "512Mi"), nil}},
			want:        []res{{rl("cpu", "50m", "memory", "512Mi"), rl("memory", "1Gi")}},
			wantChanged: []string{c0 + ".requests.cpu", c0 + ".limits.memory"},
		},
		"a request in another spelling": {
			containers:  []res{{rl("memory", "1G"), nil}},
			want:        []res{{rl("cpu", "50m", "memory", "1G"), rl("memory", "2G")}},
			wantChanged: []string{c0 + ".requests.cpu", c0 + ".limits.memory"},
		},
		"a zero memory request gets the minimum": {
			containers:  []res{{rl("memory", "0"), nil}},
			want:        []res{{rl("cpu", "50m", "memory", "0"), rl("memory", "512Mi")}},
			wantChanged: []string{c0 + ".requests.cpu", c0 + ".limits.memory"},
			wantNotes:   []string{`resources: container "c" gets limits.memory: 512Mi (the larger of 512Mi and 2× its request 0); set resources.limits.memory to choose your own`},
		},
		"an author's CPU request gets no CPU limit by default": {
			containers:  []res{{rl("cpu", "2"), nil}},
			want:        []res{{rl("cpu", "2", "memory", "64Mi"), rl("memory", "512Mi")}},
			wantChanged: []string{c0 + ".requests.memory", c0 + ".limits.memory"},
		},
		// Updated (issue 20): a limit without a request used to get the
		// default request (lowered to the limit when above it); the API
		// server makes that limit the pod's request, so the default cut
		// the reservation (200m/500Mi limits got 50m/64Mi) and the QoS.
		"existing memory limit kept, no memory request under it, cpu request filled": {
			containers:  []res{{nil, rl("memory", "256Mi")}},
			want:        []res{{rl("cpu", "50m"), rl("memory", "256Mi")}},
			wantChanged: []string{c0 + ".requests.cpu"},
		},
		"limits alone are the requests: nothing filled": {
			containers: []res{{nil, rl("cpu", "20m", "memory", "32Mi")}},
			want:       []res{{nil, rl("cpu", "20m", "memory", "32Mi")}},
		},
		"limits above the defaults alone: nothing filled under them": {
			containers: []res{{nil, rl("cpu", "200m", "memory", "500Mi")}},
			want:       []res{{nil, rl("cpu", "200m", "memory", "500Mi")}},
		},
		"author's request above author's limit is left for the API server": {
			containers: []res{{rl("cpu", "2", "memory", "1Gi"), rl("cpu", "1", "memory", "512Mi")}},
			want:       []res{{rl("cpu", "2", "memory", "1Gi"), rl("cpu", "1", "memory", "512Mi")}},
		},
		"CPU limit when enabled: the 1-core minimum": {
			limits:      withCPU,
			containers:  []res{{}},
			want:        []res{{defReq, rl("cpu", "1", "memory", "512Mi")}},
			wantChanged: []string{c0 + ".requests.cpu", c0 + ".limits.cpu", c0 + ".requests.memory", c0 + ".limits.memory"},
			wantNotes: []string{
				`resources: container "c" gets limits.cpu: 1 (the larger of 1 and 2× its request 50m); set resources.limits.cpu to choose your own`,
				`resources: container "c" gets limits.memory: 512Mi (the larger of 512Mi and 2× its request 64Mi); set resources.limits.memory to choose your own`,
			},
		},
		"CPU limit when enabled: twice a large request": {
			limits:      withCPU,
			containers:  []res{{rl("cpu", "750m", "memory", "1Gi"), nil}},
			want:        []res{{rl("cpu", "750m", "memory", "1Gi"), rl("cpu", "1500m", "memory", "2Gi")}},
			wantChanged: []string{c0 + ".limits.cpu", c0 + ".limits.memory"},
		},
		"memory limit off: requests only": {
			limits:      map[corev1.ResourceName]LimitRule{},
			containers:  []res{{}},
			want:        []res{{defReq, nil}},
			wantChanged: []string{c0 + ".requests.cpu", c0 + ".requests.memory"},
		},
		"a limit rule without a request default sizes from the author's request": {
			requests:    corev1.ResourceList{},
			containers:  []res{{rl("memory", "400Mi"), nil}, {}},
			want:        []res{{rl("memory", "400Mi"), rl("memory", "800Mi")}, {nil, rl("memory", "512Mi")}},
			wantChanged: []string{c0 + ".limits.memory", c1 + ".limits.memory"},
			wantNotes: []string{
				`resources: container "c" gets limits.memory: 800Mi (the larger of 512Mi and 2× its request 400Mi); set resources.limits.memory to choose your own`,
				`resources: container "c" gets limits.memory: 512Mi (the minimum 512Mi); set resources.limits.memory to choose your own`,
			},
		},
		"system-node-critical pods are skipped": {
			class:      "system-node-critical",
			containers: []res{{}},
			init:       []res{{}},
			want:       []res{{}},
			wantInit:   []res{{}},
		},
		"system-cluster-critical pods are skipped": {
			class:      "system-cluster-critical",
			containers: []res{{rl("memory", "1Gi"), nil}},
			want:       []res{{rl("memory", "1Gi"), nil}},
		},
		"other classes are filled": {
			class:       "infra-daemonset",
			containers:  []res{{}},
			want:        []res{{defReq, rl("memory", "512Mi")}},
			wantChanged: defAll(c0),
		},
		"an empty skip list fills system-critical pods too": {
			skip:        []string{},
			class:       "system-node-critical",
			containers:  []res{{}},
			want:        []res{{defReq, rl("memory", "512Mi")}},
			wantChanged: defAll(c0),
		},
		"init containers are filled, and reported first": {
			init:        []res{{}},
			containers:  []res{{}},
			want:        []res{{defReq, rl("memory", "512Mi")}},
			wantInit:    []res{{defReq, rl("memory", "512Mi")}},
			wantChanged: append(defAll(i0), defAll(c0)...),
			wantNotes: []string{
				`resources: init container "c" gets limits.memory: 512Mi (the larger of 512Mi and 2× its request 64Mi); set resources.limits.memory to choose your own`,
				`resources: container "c" gets limits.memory: 512Mi (the larger of 512Mi and 2× its request 64Mi); set resources.limits.memory to choose your own`,
			},
		},
		"every container": {
			containers:  []res{{rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi")}, {}},
			want:        []res{{rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi")}, {defReq, rl("memory", "512Mi")}},
			wantChanged: defAll(c1),
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
			want:        []res{{rl("cpu", "50m", "memory", "64Mi", "nvidia.com/gpu", "1"), rl("memory", "512Mi", "nvidia.com/gpu", "1")}},
			wantChanged: defAll(c0),
		},
		"custom resource names": {
			requests:    rl("ephemeral-storage", "100Mi", "example.com/widget", "1"),
			limits:      map[corev1.ResourceName]LimitRule{corev1.ResourceEphemeralStorage: {Minimum: q("1Gi"), Multiplier: 4}},
			containers:  []res{{}},
			want:        []res{{rl("ephemeral-storage", "100Mi", "example.com/widget", "1"), rl("ephemeral-storage", "1Gi")}},
			wantChanged: []string{c0 + ".requests.ephemeral-storage", c0 + ".limits.ephemeral-storage", c0 + ".requests.example.com/widget"},
		},
		"zero request default": {
			requests:    rl("cpu", "0"),
			limits:      map[corev1.ResourceName]LimitRule{},
			containers:  []res{{}},
			want:        []res{{rl("cpu", "0"), nil}},
			wantChanged: []string{c0 + ".requests.cpu"},
		},
		"no defaults at all": {
			requests:   corev1.ResourceList{},
			limits:     map[corev1.ResourceName]LimitRule{},
			containers: []res{{}},
			want:       []res{{}},
		},
		"no containers": {},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			reqs, lims, skip := tc.requests, tc.limits, tc.skip
			if reqs == nil {
				reqs = defReq
			}
			if lims == nil {
				lims = defaultLimits()
			}
			if skip == nil {
				skip = systemClasses
			}
			m := NewResources(reqs, lims, skip)
			if mutatorName(m) != "resources" {
				t.Errorf("Name() = %q", mutatorName(m))
			}
			spec := corev1.PodSpec{PriorityClassName: tc.class}
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
			reqsBefore, limsBefore := reqs.DeepCopy(), fmt.Sprint(lims)
			r := m.Mutate(t.Context(), ds)
			assertStrings(t, "Changed", r.Changed(), tc.wantChanged)
			if tc.wantWarning == "" && len(r.Warnings) != 0 {
				t.Errorf("Warnings = %q", r.Warnings)
			}
			if tc.wantWarning != "" && (len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], tc.wantWarning)) {
				t.Errorf("Warnings = %q, want one containing %q", r.Warnings, tc.wantWarning)
			}
			// One note per injected limit, naming the container and the value.
			limits := 0
			for _, c := range r.Changed() {
				if strings.Contains(c, ".limits.") {
					limits++
				}
			}
			if len(r.Notes) != limits {
				t.Errorf("%d notes for %d injected limits: %q", len(r.Notes), limits, r.Notes)
			}
			if tc.wantNotes != nil {
				assertStrings(t, "Notes", r.Notes, tc.wantNotes)
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
			if !equality.Semantic.DeepEqual(reqsBefore, reqs) || limsBefore != fmt.Sprint(lims) {
				t.Errorf("mutating changed the mutator's defaults")
			}
			assertConverged(t, m, ds)
		})
	}
}

func TestResourcesSkipEphemeralContainers(t *testing.T) {
	ds := dstest.DaemonSet(dstest.Spec(corev1.PodSpec{EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug"}}}}))
	r := NewResources(rl("cpu", "50m"), defaultLimits(), nil).Mutate(t.Context(), ds)
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
	reqs := rl("cpu", "50m", "memory", "64Mi")
	rule := LimitRule{Minimum: q("512Mi"), Multiplier: 2}
	m := NewResources(reqs, map[corev1.ResourceName]LimitRule{corev1.ResourceMemory: rule}, nil)
	ds := dstest.DaemonSet(dstest.Spec(corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}}))
	m.Mutate(t.Context(), ds)
	got := ds.Spec.Template.Spec.Containers[0].Resources
	cpu := got.Requests[corev1.ResourceCPU]
	cpu.Add(q("1"))
	got.Requests[corev1.ResourceCPU] = cpu
	if want := q("50m"); reqs.Cpu().Cmp(want) != 0 {
		t.Errorf("default request changed to %s", reqs.Cpu())
	}
	mem := got.Limits[corev1.ResourceMemory]
	mem.Add(q("1Gi"))
	got.Limits[corev1.ResourceMemory] = mem
	if min := m.limits[corev1.ResourceMemory].Minimum; min.Cmp(q("512Mi")) != 0 {
		t.Errorf("limit minimum changed to %s", min.String())
	}
}
