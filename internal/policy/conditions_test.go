package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	celplugin "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook"
	"k8s.io/apiserver/pkg/admission/plugin/webhook/matchconditions"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/validators"
)

// The matchConditions are checked the way the API server evaluates them:
// compiled by k8s.io/apiserver's webhook accessor with the API server's CEL
// environment, and run on the typed object as the admission chain hands it
// over. A condition that is false must mean that nothing would have
// happened had the webhook been called, and no condition may fail to
// evaluate (with failurePolicy Fail, the API server would refuse the write).

var celCompiler = celplugin.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))

// matcherFor compiles c as the API server compiles a webhook's
// matchConditions; nil when c always holds (the webhook has none).
func matcherFor(t *testing.T, c precondition.Cond, mutating bool) matchconditions.Matcher {
	t.Helper()
	conds := c.MatchConditions("test")
	if conds == nil {
		return nil
	}
	fail := admissionregistrationv1.Fail
	if mutating {
		return webhook.NewMutatingWebhookAccessor("uid", "daemonguard", &admissionregistrationv1.MutatingWebhook{
			Name: "mutate.daemonguard.io", MatchConditions: conds, FailurePolicy: &fail,
		}).GetCompiledMatcher(celCompiler)
	}
	return webhook.NewValidatingWebhookAccessor("uid", "daemonguard", &admissionregistrationv1.ValidatingWebhook{
		Name: "validate.daemonguard.io", MatchConditions: conds, FailurePolicy: &fail,
	}).GetCompiledMatcher(celCompiler)
}

// matches evaluates m on c as the API server does; it fails the test on an
// evaluation error. It evaluates twice: on the typed object, which this API
// server version reads by reflection, and on its unstructured form, which
// the API servers before it read; both must agree.
func matches(t *testing.T, m matchconditions.Matcher, c *conditionCase) bool {
	t.Helper()
	if m == nil {
		return true
	}
	typed := evaluate(t, m, c.old, c.ds)
	if c.uDS == nil {
		c.uDS = toUnstructured(t, c.ds)
		if c.old != nil {
			c.uOld = toUnstructured(t, c.old)
		}
	}
	if u := evaluate(t, m, c.uOld, c.uDS); u != typed {
		t.Fatalf("%s: the matchCondition is %v on the typed object and %v on its unstructured form\nobject: %s", c.name, typed, u, dump(c.ds))
	}
	return typed
}

func toUnstructured(t *testing.T, ds *appsv1.DaemonSet) *unstructured.Unstructured {
	t.Helper()
	u, err := admission.ConvertObjectToUnstructured(ds)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func evaluate[T interface {
	runtime.Object
	comparable
}](t testing.TB, m matchconditions.Matcher, old, ds T) bool {
	t.Helper()
	var zero T
	gvk := appsv1.SchemeGroupVersion.WithKind("DaemonSet")
	op, opts, oldObj := admission.Create, runtime.Object(&metav1.CreateOptions{}), runtime.Object(nil)
	if old != zero {
		op, opts, oldObj = admission.Update, &metav1.UpdateOptions{}, old
	}
	attrs := admission.NewAttributesRecord(ds, oldObj, gvk, "monitoring", "agent",
		appsv1.SchemeGroupVersion.WithResource("daemonsets"), "", op, opts, false, &user.DefaultInfo{Name: "test"})
	va := &admission.VersionedAttributes{Attributes: attrs, VersionedKind: gvk,
		VersionedObject: admission.NewLazyObject(ds), VersionedOldObject: admission.NewLazyObject(oldObj)}
	r := m.Match(context.Background(), va, nil, nil)
	if r.Error != nil {
		t.Fatalf("the matchCondition fails to evaluate (with failurePolicy Fail the API server would refuse the write): %v\nobject: %s", r.Error, dump(ds))
	}
	return r.Matches
}

func dump(ds any) string {
	b, _ := json.Marshal(ds)
	return string(b)
}

// conditionCase is one request the conditions are checked on.
type conditionCase struct {
	name    string
	old, ds *appsv1.DaemonSet
	// uOld and uDS are their unstructured forms, made once.
	uOld, uDS *unstructured.Unstructured
}

// conditionCases are random DaemonSets, the bypass and allowed corpora and
// every example, each as a CREATE, as an UPDATE that changes nothing, one
// that changes the image only and one from another random DaemonSet.
func conditionCases(t *testing.T) []conditionCase {
	t.Helper()
	var objects []*appsv1.DaemonSet
	names := []string{}
	for i, ds := range dstest.RandomDaemonSets(t, 20261202, 400) {
		objects, names = append(objects, ds), append(names, fmt.Sprintf("random-%d", i))
	}
	files, err := filepath.Glob("testdata/*/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := filepath.Glob(filepath.Join(dstest.RepoRoot(), "deploy", "examples", "*", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	top, _ := filepath.Glob(filepath.Join(dstest.RepoRoot(), "deploy", "examples", "*.yaml"))
	for _, f := range append(append(files, top...), examples...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objects, names = append(objects, dstest.FromYAML(t, data)), append(names, filepath.Base(f))
	}
	if len(objects) < 400+len(files)+len(top) || len(files) < 100 || len(top) < 5 {
		t.Fatalf("too few objects: %d corpus files, %d examples", len(files), len(top))
	}
	// What only a mutating webhook sees: objects validation will refuse.
	objects = append(objects, &appsv1.DaemonSet{}, dstest.DaemonSet(dstest.Spec(corev1.PodSpec{Containers: []corev1.Container{}})))
	names = append(names, "empty", "no-containers")
	var out []conditionCase
	for i, ds := range objects {
		bumped := ds.DeepCopy()
		if len(bumped.Spec.Template.Spec.Containers) > 0 {
			bumped.Spec.Template.Spec.Containers[0].Image += "-next"
		} else {
			bumped.Spec.Template.Labels = map[string]string{"rolled": "yes"}
		}
		out = append(out,
			conditionCase{name: names[i] + "/create", ds: ds},
			conditionCase{name: names[i] + "/reapply", old: ds, ds: ds.DeepCopy()},
			conditionCase{name: names[i] + "/image-bump", old: ds, ds: bumped},
			conditionCase{name: names[i] + "/from-other", old: objects[(i+7)%len(objects)], ds: ds},
		)
	}
	return out
}

// clusterNodes make the node-aware rules find something in most
// DaemonSets: a tainted control plane, a dedicated pool, a tiny node and a
// Windows node.
func clusterNodes(context.Context) ([]*corev1.Node, error) {
	node := func(name string, labels map[string]string, taints []corev1.Taint, cpu, mem string) *corev1.Node {
		alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem), corev1.ResourcePods: resource.MustParse("110")}
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints},
			Status: corev1.NodeStatus{Allocatable: alloc, Capacity: alloc, Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
		n.Labels["kubernetes.io/hostname"] = name
		return n
	}
	return []*corev1.Node{
		node("cp", map[string]string{"kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": ""},
			[]corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}, "4", "8Gi"),
		node("gpu", map[string]string{"kubernetes.io/os": "linux", "pool": "gpu"},
			[]corev1.Taint{{Key: "dedicated", Value: "gpu", Effect: corev1.TaintEffectNoSchedule}}, "8", "32Gi"),
		node("tiny", map[string]string{"kubernetes.io/os": "linux"}, nil, "100m", "64Mi"),
		node("win", map[string]string{"kubernetes.io/os": "windows"}, nil, "4", "8Gi"),
	}, nil
}

// onlyBuiltinClasses: any other PriorityClass is missing.
func onlyBuiltinClasses(_ context.Context, name string) (bool, error) {
	return name == "infra-daemonset" || name == "system-node-critical" || name == "system-cluster-critical", nil
}

// everyRule is a policy with every rule on, against clusterNodes.
func everyRule(t *testing.T) (*Policy, validators.Options) {
	t.Helper()
	body := "validation:\n  rules:\n"
	for _, d := range validators.Registry() {
		body += "    " + d.ID + ": audit\n"
	}
	opts := Options{Nodes: clusterNodes, ClassExists: onlyBuiltinClasses}
	return parsePolicy(t, body, opts), validators.Options{Nodes: clusterNodes, ClassExists: validators.ClassLookup(onlyBuiltinClasses)}
}

// TestValidatingConditionIsConservative: where a rule's condition is false,
// the rule finds nothing, and where the validating webhook's condition is
// false, the policy's verdict is empty.
func TestValidatingConditionIsConservative(t *testing.T) {
	p, ropts := everyRule(t)
	registry := validators.Registry()
	whole := matcherFor(t, ValidatingCondition(registry), false)
	type ruleMatcher struct {
		def     validators.Definition
		rule    validators.Rule
		matcher matchconditions.Matcher
	}
	var rules []ruleMatcher
	for _, d := range registry {
		rules = append(rules, ruleMatcher{d, d.New(ropts), matcherFor(t, d.Condition(), false)})
	}
	skipped, fired := map[string]int{}, map[string]int{}
	cases := conditionCases(t)
	for i := range cases {
		c := &cases[i]
		for _, r := range rules {
			if matches(t, r.matcher, c) {
				continue
			}
			skipped[r.def.ID]++
			if c.old != nil && r.def.ReadsCluster && validators.TemplateUnchanged(c.old, c.ds) {
				continue // the policy does not run it (checked below)
			}
			if errs := r.rule.Validate(context.Background(), validators.NewTarget(c.ds.DeepCopy())); len(errs) > 0 {
				t.Errorf("%s: rule %s finds %v where its condition is false\ncondition: %s\nobject: %s", c.name, r.def.ID, errs, r.def.Condition(), dump(c.ds))
			}
		}
		v := p.Validate(context.Background(), "monitoring", c.old, c.ds.DeepCopy())
		for _, x := range v.Violations {
			fired[x.Rule]++
		}
		if matches(t, whole, c) {
			continue
		}
		skipped["(webhook)"]++
		if len(v.Violations) > 0 {
			t.Errorf("%s: the validating webhook is not called, but the policy finds %+v\nobject: %s", c.name, v.Violations, dump(c.ds))
		}
	}
	// The property says nothing where conditions always hold, or where no
	// rule ever fires: each must be seen both ways.
	for _, d := range registry {
		if skipped[d.ID] == 0 || fired[d.ID] == 0 {
			t.Errorf("rule %s: condition false on %d cases, fired on %d: the cases do not exercise it", d.ID, skipped[d.ID], fired[d.ID])
		}
	}
	if skipped["(webhook)"] == 0 {
		t.Error("the validating webhook's condition held for every case")
	}
	t.Logf("condition false per rule: %v", skipped)
}

// mutatingPolicies are policy files whose mutators differ in every way the
// condition depends on.
var mutatingPolicies = map[string]string{
	"defaults": "",
	"tolerations of every shape": `mutation:
  tolerations:
    defaults:
      - {key: dedicated, operator: Equal, value: gpu, effect: NoSchedule}
      - {key: dedicated, effect: NoExecute}
      - {key: node-role.kubernetes.io/control-plane, operator: Exists}
      - {key: example.com/flaky, operator: Exists, effect: NoExecute, tolerationSeconds: 60}
  priorityClass: {enabled: false}
  resources: {enabled: false}`,
	"cpu limits, no skipped classes": `mutation:
  tolerations: {enabled: false}
  resources:
    requests: {cpu: 10m, ephemeral-storage: 1Gi}
    cpuLimit: {enabled: true}
    memoryLimit: {enabled: false}
    skipPriorityClasses: []`,
	"skip the default class": `mutation:
  tolerations: {enabled: false}
  priorityClass: {name: infra-daemonset}
  resources:
    skipPriorityClasses: [infra-daemonset, other]`,
	// Accepted by the config package: the resources mutator stays enabled
	// with no request and no limit to fill, and still warns about
	// pod-level resources.
	"resources with nothing to fill": `mutation:
  tolerations: {enabled: false}
  priorityClass: {enabled: false}
  resources:
    requests: {}
    memoryLimit: {enabled: false}`,
	"nothing": `mutation:
  tolerations: {enabled: false}
  priorityClass: {enabled: false}
  resources: {enabled: false}`,
}

// TestMutatingConditionIsConservative: where the mutating webhook's
// condition is false, the policy's mutators change and say nothing.
func TestMutatingConditionIsConservative(t *testing.T) {
	cases := conditionCases(t)
	for name, body := range mutatingPolicies {
		t.Run(name, func(t *testing.T) {
			p := parsePolicy(t, body, Options{ClassExists: onlyBuiltinClasses})
			m := matcherFor(t, p.MutatingCondition(), true)
			skipped, acted := 0, 0
			for i := range cases {
				c := &cases[i]
				ds := c.ds.DeepCopy()
				out := p.Mutate(context.Background(), "monitoring", ds)
				if len(out.Patch)+len(out.Warnings)+len(out.Notes) > 0 {
					acted++
				}
				if matches(t, m, c) {
					continue
				}
				skipped++
				if len(out.Patch)+len(out.Warnings)+len(out.Notes) > 0 {
					t.Errorf("%s: the mutating webhook is not called, but the policy changes %v and says %q %q\ncondition: %s\nobject: %s",
						c.name, out.Changed, out.Warnings, out.Notes, p.MutatingCondition(), dump(c.ds))
				}
			}
			if name != "nothing" && (skipped == 0 || acted == 0) {
				t.Errorf("condition false on %d cases, mutators acted on %d: the cases do not exercise it", skipped, acted)
			}
			t.Logf("condition false on %d cases, mutators acted on %d", skipped, acted)
		})
	}
}

// TestPolicyIgnoresClusterOnUnchangedUpdate: the Go side of
// precondition.Changed. A re-apply of a DaemonSet the cluster now judges
// differently (its PriorityClass was deleted) says nothing; a change of its
// template does.
func TestPolicyIgnoresClusterOnUnchangedUpdate(t *testing.T) {
	p := parsePolicy(t, "", Options{ClassExists: onlyBuiltinClasses, Nodes: clusterNodes})
	ds := dstest.DaemonSet(dstest.Container("agent"))
	ds.Spec.Template.Spec.PriorityClassName = "deleted-class"
	if v := p.Validate(context.Background(), "monitoring", nil, ds); !hasRule(v, "priority-class-missing") {
		t.Fatalf("CREATE: want priority-class-missing, got %+v", v.Violations)
	}
	if v := p.Validate(context.Background(), "monitoring", ds.DeepCopy(), ds); len(v.Violations) > 0 {
		t.Errorf("unchanged UPDATE: want nothing, got %+v", v.Violations)
	}
	bumped := ds.DeepCopy()
	bumped.Spec.Template.Spec.Containers[0].Image = "agent:2"
	if v := p.Validate(context.Background(), "monitoring", ds, bumped); !hasRule(v, "priority-class-missing") {
		t.Errorf("image bump: want priority-class-missing, got %+v", v.Violations)
	}
}

func hasRule(v Verdict, id string) bool {
	for _, x := range v.Violations {
		if x.Rule == id {
			return true
		}
	}
	return false
}

// TestConditionsFitTheCostBudget: the API server stops a matchCondition at
// a cost budget and then applies failurePolicy (Fail: the write is
// refused). A DaemonSet near the API server's size limit, whose every list
// the conditions walk to the end without a match, stays within it.
func TestConditionsFitTheCostBudget(t *testing.T) {
	spec := corev1.PodSpec{}
	for i := range 1000 {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: fmt.Sprintf("v%d", i), VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: fmt.Sprintf("example.com/t%d", i), Operator: corev1.TolerationOpExists})
	}
	container := func(i int) corev1.Container {
		c := corev1.Container{Name: fmt.Sprintf("c%d", i), Image: "agent:1",
			SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			Resources:       corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("1Mi")}, Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}}
		for j := range 90 {
			c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: int32(1000 + j)})
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: fmt.Sprintf("v%d", j), MountPath: fmt.Sprintf("/m%d", j)})
		}
		return c
	}
	for i := range 100 {
		spec.Containers = append(spec.Containers, container(i))
		spec.InitContainers = append(spec.InitContainers, container(100+i))
	}
	spec.PriorityClassName = "infra-daemonset"
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule})
	old := dstest.DaemonSet(dstest.Spec(spec))
	ds := old.DeepCopy()
	ds.Spec.Template.Spec.Containers[99].Image = "agent:2" // the template compare walks to the end
	if b, _ := json.Marshal(ds); len(b) < 1<<20 {
		t.Fatalf("the DaemonSet is %d bytes; it should be near the 1.5 MiB etcd limit", len(b))
	}
	p := parsePolicy(t, "", Options{})
	c := conditionCase{name: "huge", old: old, ds: ds}
	for name, m := range map[string]matchconditions.Matcher{
		"validating": matcherFor(t, ValidatingCondition(validators.Registry()), false),
		"mutating":   matcherFor(t, p.MutatingCondition(), true),
	} {
		matches(t, m, &c) // fails the test on an error, a blown budget included
		t.Logf("%s: evaluated", name)
	}
	reapply := conditionCase{name: "huge re-apply", old: old, ds: old.DeepCopy()}
	if matches(t, matcherFor(t, ValidatingCondition(validators.Registry()), false), &reapply) {
		t.Error("the validating webhook is called for an unchanged compliant DaemonSet")
	}
	if matches(t, matcherFor(t, p.MutatingCondition(), true), &reapply) {
		t.Error("the mutating webhook is called for a DaemonSet that has every default")
	}
}

// BenchmarkConditions is the API server's cost of daemonguard's
// matchConditions for one admission: both conditions, on the re-apply of a
// compliant DaemonSet without host access, where every test must run to the
// end to come out false (the costliest case), and on a CREATE.
func BenchmarkConditions(b *testing.B) {
	p := parsePolicy(&testing.T{}, "", Options{})
	validating := webhook.NewValidatingWebhookAccessor("uid", "daemonguard", &admissionregistrationv1.ValidatingWebhook{
		Name: "v", MatchConditions: ValidatingCondition(validators.Registry()).MatchConditions("v")}).GetCompiledMatcher(celCompiler)
	mutating := webhook.NewMutatingWebhookAccessor("uid", "daemonguard", &admissionregistrationv1.MutatingWebhook{
		Name: "m", MatchConditions: p.MutatingCondition().MatchConditions("m")}).GetCompiledMatcher(celCompiler)
	ds := dstest.DaemonSet(dstest.Container("agent"), dstest.Tolerations(corev1.Toleration{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}))
	spec := &ds.Spec.Template.Spec
	spec.PriorityClassName = "infra-daemonset"
	spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}}
	for name, old := range map[string]*appsv1.DaemonSet{"reapply": ds.DeepCopy(), "create": nil} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				for _, m := range []matchconditions.Matcher{mutating, validating} {
					c := conditionCase{name: name, old: old, ds: ds}
					if got := evaluate(b, m, c.old, c.ds); got != (old == nil && m == validating) {
						b.Fatalf("%s: matches %v", name, got)
					}
				}
			}
		})
	}
}
