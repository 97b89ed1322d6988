package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"k8s.io/klog/v2"

	"github.com/daemonguard/daemonguard/internal/defaults"
	"github.com/daemonguard/daemonguard/test/dstest"
)

// podRequests are the requests a pod created from ds's template gets from
// the API server: the pod's defaulting (SetDefaults_Pod in
// pkg/apis/core/v1/defaults.go) sets a missing request to the container's
// limit for the same resource. The template itself is not defaulted that
// way, which is why a mutator looking only at the template's requests sees
// nothing where the pod will have the limit. Keyed "list/name/resource".
func podRequests(ds *appsv1.DaemonSet) map[string]resource.Quantity {
	out := map[string]resource.Quantity{}
	spec := &ds.Spec.Template.Spec
	add := func(list string, cs []corev1.Container) {
		for _, c := range cs {
			for name, q := range c.Resources.Limits {
				out[list+"/"+c.Name+"/"+string(name)] = q
			}
			for name, q := range c.Resources.Requests {
				out[list+"/"+c.Name+"/"+string(name)] = q
			}
		}
	}
	add("initContainers", spec.InitContainers)
	add("containers", spec.Containers)
	return out
}

// tolerated reports whether some toleration of ts tolerates taint, as the
// scheduler and the DaemonSet controller decide it.
func tolerated(ts []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range ts {
		if ts[i].ToleratesTaint(klog.Background(), taint, false) {
			return true
		}
	}
	return false
}

// harmfulMutations lists what the default policy's mutators do to ds that
// makes the agent worse off: a request below what the API server would
// have given its pods (a limit without a request becomes the request), and
// a default toleration added beside one that already tolerates the taint
// the default is meant for (kubeadm's control-plane taint has no value).
func harmfulMutations(t *testing.T, p *Policy, ns string, ds *appsv1.DaemonSet) []string {
	t.Helper()
	orig := ds.DeepCopy()
	defaults.DaemonSet(orig)
	mutated := orig.DeepCopy()
	p.Mutate(t.Context(), ns, mutated)
	return harmfulBetween(orig, mutated)
}

// harmfulBetween compares a template with its mutated form (tolerations
// are only ever appended).
func harmfulBetween(orig, mutated *appsv1.DaemonSet) []string {
	var out []string
	before, after := podRequests(orig), podRequests(mutated)
	for _, k := range slices.Sorted(maps.Keys(before)) {
		q := before[k]
		if a, ok := after[k]; !ok || a.Cmp(q) < 0 {
			out = append(out, fmt.Sprintf("request %s lowered from %s to %s", k, q.String(), a.String()))
		}
	}
	have := orig.Spec.Template.Spec.Tolerations
	for _, added := range mutated.Spec.Template.Spec.Tolerations[len(have):] {
		meant := corev1.Taint{Key: added.Key, Value: added.Value, Effect: added.Effect}
		if tolerated(have, &meant) {
			out = append(out, fmt.Sprintf("toleration %s added beside one that tolerates %s", describeToleration(&added), meant.ToString()))
		}
	}
	return out
}

// TestNoHarmfulMutationsOfRealAgents: over every real agent in the corpora
// (the recipes' agents, the allowed corpus, many of them real charts'
// output, and the examples), the default policy's mutators never lower a
// request the API server would have given the pods, and never add a
// toleration beside one that already tolerates the taint it is meant for.
func TestNoHarmfulMutationsOfRealAgents(t *testing.T) {
	p := parsePolicy(t, "exemptions: []\n", Options{})
	agents, harmful := 0, 0
	for _, dir := range []string{"deploy/recipes/testdata", dstest.AllowedDir, dstest.ExamplesDir} {
		for _, f := range dstest.Corpus(t, dir) {
			ds := dstest.FromYAML(t, f.Data)
			ns := ds.Namespace
			if ns == "" {
				ns = "default"
			}
			agents++
			for _, h := range harmfulMutations(t, p, ns, ds) {
				harmful++
				t.Errorf("%s/%s: %s", dir, f.Name, h)
			}
		}
	}
	t.Logf("%d agents, %d harmful mutations", agents, harmful)
	if agents < 50 {
		t.Errorf("only %d agents: the corpora moved", agents)
	}
}

// TestHarmfulMutationsAreFound: the measure above finds what it is for,
// and the policy does neither: the agent that sets only limits, and
// one whose toleration omits the operator (Equal, empty value: it
// tolerates kubeadm's control-plane taint, which has no value).
func TestHarmfulMutationsAreFound(t *testing.T) {
	limitsOnly := dstest.FromYAML(t, []byte(`metadata: {name: a}
spec:
  template:
    spec:
      tolerations: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]
      containers: [{name: c, image: x, resources: {limits: {cpu: 200m, memory: 500Mi}}}]
`))
	bad := limitsOnly.DeepCopy()
	bad.Spec.Template.Spec.Containers[0].Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m")}
	bad.Spec.Template.Spec.Tolerations = append(bad.Spec.Template.Spec.Tolerations,
		corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	got := strings.Join(harmfulBetween(limitsOnly, bad), "; ")
	if want := "request containers/c/cpu lowered from 200m to 50m; toleration {key: node-role.kubernetes.io/control-plane, operator: Exists, value: \"\", effect: NoSchedule} added beside one that tolerates node-role.kubernetes.io/control-plane:NoSchedule"; got != want {
		t.Errorf("measure found\n %s\nwant\n %s", got, want)
	}
	p := parsePolicy(t, "exemptions: []\n", Options{})
	if found := harmfulMutations(t, p, "default", limitsOnly); len(found) != 0 {
		t.Errorf("harmful: %s", strings.Join(found, "; "))
	}
}

func describeToleration(t *corev1.Toleration) string {
	return fmt.Sprintf("{key: %s, operator: %s, value: %q, effect: %s}", t.Key, t.Operator, t.Value, t.Effect)
}
