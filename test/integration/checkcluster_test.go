package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/defaults"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/review"
	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/validators"
)

// sample is one DaemonSet sent both ways.
type sample struct {
	source    string
	object    []byte // JSON
	old       []byte // JSON of the stored object an UPDATE replaces; nil for a CREATE
	namespace string
}

// verdict is what one side made of a sample.
type verdict struct {
	// outcome: "allowed", "denied" (by the validating webhook), "refused"
	// (by the mutating webhook), or "rejected" (by the API server itself,
	// so the webhook was never asked: not comparable).
	outcome string
	denials []string // rule@field: message, sorted
	// warnings are what kubectl prints, sorted; only an admitted object
	// has them all (a denial's mutation warnings are not compared).
	warnings []string
	// annotation is daemonguard.io/injected on the admitted object, and
	// object the admitted object itself (JSON).
	annotation string
	object     map[string]any
	detail     string
	// notKept are the newer fields the engine judged without, for the
	// server's version.
	notKept []string
}

// randomSample is how many random DaemonSets go with the corpora.
const randomSample = 60

// TestCheckEqualsTheCluster sends every example, every bypass and allowed
// corpus file (an UPDATE of its "# old:" DaemonSet where it names one) and
// a random sample through the real API server and the webhook (server-side
// dry-run) and through check's engine (review.Admit with the cluster's
// PriorityClasses and Nodes, as `check --nodes` would see them), and
// requires the same verdict, the same denying rules at the same fields and
// the same injected values. The API server defaults the object before it
// calls the webhook; check judges the file as written: where that makes
// them differ, the engine must apply the same defaults, not this test
// look away. New corpus files are picked up as they are added.
func TestCheckEqualsTheCluster(t *testing.T) {
	creates, updates := namespace(t), namespace(t)
	var samples []sample
	for _, dir := range []string{dstest.ExamplesDir, dstest.UnsafeDir, dstest.BypassDir, dstest.AllowedDir} {
		for _, f := range dstest.Corpus(t, dir) {
			s := sample{source: dir + "/" + f.Name, object: inNamespace(t, f.Data, creates), namespace: creates}
			if f.Old != nil {
				s.object, s.old, s.namespace = inNamespace(t, f.Data, updates), inNamespace(t, f.Old, updates), updates
			}
			samples = append(samples, s)
		}
	}
	for i, ds := range dstest.RandomValidDaemonSets(19, randomSample) {
		data, err := json.Marshal(ds)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, sample{source: fmt.Sprintf("random/%d", i), object: inNamespace(t, data, creates), namespace: creates})
	}
	storeOld(t, samples)
	p := clusterPolicy(t)

	counts := map[string]int{}
	var rejected []string
	adjusted := 0
	for _, s := range samples {
		cluster := sendToCluster(t, s)
		// An older server drops the newer fields it does not keep before the
		// webhook is called (TestNewerFieldsAreWhatTheServerDrops): check
		// --kube-version 1.<that> judges them the same way.
		engine := sendToEngine(t, p, s)
		if len(engine.notKept) > 0 {
			adjusted++
		}
		counts[cluster.outcome]++
		if cluster.outcome == "rejected" {
			rejected = append(rejected, s.source+": "+cluster.detail)
			continue
		}
		for _, d := range compare(engine, cluster) {
			t.Errorf("%s: %s", s.source, d)
		}
	}
	t.Logf("kube-apiserver 1.%d: %d DaemonSets sent both ways: %v (%d without the newer fields this version does not keep)", serverMinor, len(samples), counts, adjusted)
	for _, r := range rejected {
		t.Logf("refused by the API server's own validation (the webhook was not asked): %s", r)
	}
	if len(rejected) > randomSample/2 {
		t.Errorf("%d of the samples are invalid for the API server: the comparison covers too little", len(rejected))
	}
}

// inNamespace is a YAML or JSON DaemonSet as JSON, in namespace ns.
func inNamespace(t *testing.T, data []byte, ns string) []byte {
	t.Helper()
	u := &unstructured.Unstructured{}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace(ns)
	out, err := u.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// storeOld creates, for real, the objects UPDATEs replace, as they were
// admitted before the rules were enforced (every rule off, mutation as
// configured), and points each sample's old at the stored object.
func storeOld(t *testing.T, samples []sample) {
	t.Helper()
	ctx := context.Background()
	off := basePolicy + "validation:\n  rules:\n"
	for _, d := range validators.Registry() {
		off += "    " + d.ID + ": \"off\"\n"
	}
	setPolicy(t, off, func() bool { return !denied(t) })
	for i := range samples {
		s := &samples[i]
		if s.old == nil {
			continue
		}
		u := unstructuredOf(t, s.old)
		if err := c.Create(ctx, u); err != nil {
			t.Fatalf("%s: storing the old object: %v", s.source, err)
		}
		data, err := u.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		s.old = data
	}
	// Back to the suite's policy before anything is compared.
	restorePolicy(t)
	for !denied(t) {
		time.Sleep(100 * time.Millisecond)
	}
}

// denied reports whether the webhook denies a hostPID DaemonSet with a
// writable hostPath, as the suite's policy does and a policy with every
// rule off does not.
func denied(t *testing.T) bool {
	t.Helper()
	ds := daemonSet("default", "policy-probe", func(s *corev1.PodSpec) {
		s.HostPID = true
		s.Volumes = []corev1.Volume{hostPathVolume("data", "/var/lib/agent")}
		s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	})
	return c.Create(context.Background(), ds, client.DryRunAll) != nil
}

// clusterPolicy is the policy the suite's webhook serves, compiled with the
// cluster's PriorityClasses and Nodes (none), as the webhook sees them.
func clusterPolicy(t *testing.T) *policy.Policy {
	t.Helper()
	ctx := context.Background()
	var classes schedulingv1.PriorityClassList
	if err := env.Client.List(ctx, &classes); err != nil {
		t.Fatal(err)
	}
	exists := map[string]bool{}
	for _, pc := range classes.Items {
		exists[pc.Name] = true
	}
	var nodes corev1.NodeList
	if err := env.Client.List(ctx, &nodes); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(basePolicy))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.New(cfg, policy.Options{
		OwnNamespace: "daemonguard",
		ClassExists:  func(_ context.Context, name string) (bool, error) { return exists[name], nil },
		Nodes: func(context.Context) ([]*corev1.Node, error) {
			out := make([]*corev1.Node, len(nodes.Items))
			for i := range nodes.Items {
				out[i] = &nodes.Items[i]
			}
			return out, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func unstructuredOf(t *testing.T, data []byte) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	return u
}

// sendToCluster dry-runs s through the API server.
func sendToCluster(t *testing.T, s sample) verdict {
	t.Helper()
	ctx := context.Background()
	u := unstructuredOf(t, s.object)
	var err error
	warnings.Take()
	if s.old != nil {
		u.SetResourceVersion(unstructuredOf(t, s.old).GetResourceVersion())
		err = c.Update(ctx, u, client.DryRunAll)
	} else {
		err = c.Create(ctx, u, client.DryRunAll)
	}
	if err == nil {
		// The API server's own warnings (a field path first, as in
		// "spec.template.spec.containers[0].resources.requests[memory]:
		// fractional byte value") are not daemonguard's.
		// Nor is an older server's "unknown field" about a newer field.
		w := slices.DeleteFunc(warnings.Take(), func(w string) bool {
			return strings.HasPrefix(w, "spec.") || strings.HasPrefix(w, "metadata.") || serverOwnWarning(w, serverMinor)
		})
		slices.Sort(w)
		return verdict{outcome: "allowed", annotation: u.GetAnnotations()[policy.InjectedAnnotation], object: u.Object, warnings: w}
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("%s: %v", s.source, err)
	}
	st := status.Status()
	switch {
	case strings.Contains(st.Message, `admission webhook "validate.daemonguard.io" denied the request`):
		v := verdict{outcome: "denied", detail: st.Message}
		if st.Details != nil {
			for _, cause := range st.Details.Causes {
				// "Forbidden: [rule] message"
				_, rest, _ := strings.Cut(cause.Message, "[")
				rule, msg, _ := strings.Cut(rest, "] ")
				v.denials = append(v.denials, rule+"@"+cause.Field+": "+msg)
			}
		}
		slices.Sort(v.denials)
		return v
	case strings.Contains(st.Message, `admission webhook "mutate.daemonguard.io"`):
		return verdict{outcome: "refused", detail: st.Message}
	}
	return verdict{outcome: "rejected", detail: st.Message}
}

// sendToEngine reviews s as `check` does.
func sendToEngine(t *testing.T, p *policy.Policy, s sample) verdict {
	t.Helper()
	a, err := review.AdmitFor(context.Background(), p, s.namespace, s.object, s.old, serverMinor)
	if err != nil {
		t.Fatalf("%s: %v", s.source, err)
	}
	if !a.Mutation.Response.Allowed {
		return verdict{outcome: "refused", detail: a.Mutation.Response.Result.Message, notKept: a.NotKept}
	}
	if !a.Validation.Response.Allowed {
		v := verdict{outcome: "denied", notKept: a.NotKept}
		for _, x := range a.Validation.Verdict.Violations {
			if x.Action == policy.Deny {
				v.denials = append(v.denials, x.Rule+"@"+x.Field+": "+x.Message)
			}
		}
		slices.Sort(v.denials)
		return v
	}
	v := verdict{outcome: "allowed", notKept: a.NotKept}
	v.warnings = append(append(v.warnings, a.Mutation.Response.Warnings...), a.Validation.Response.Warnings...)
	slices.Sort(v.warnings)
	if err := json.Unmarshal(a.Object, &v.object); err != nil {
		t.Fatal(err)
	}
	u := unstructured.Unstructured{Object: v.object}
	v.annotation = u.GetAnnotations()[policy.InjectedAnnotation]
	return v
}

// compare lists how the engine's verdict differs from the cluster's.
func compare(engine, cluster verdict) []string {
	var diffs []string
	if engine.outcome != cluster.outcome {
		return []string{fmt.Sprintf("check says %s %v, the cluster %s %v (%s)", engine.outcome, engine.denials, cluster.outcome, cluster.denials, cluster.detail)}
	}
	if !slices.Equal(engine.denials, cluster.denials) {
		diffs = append(diffs, fmt.Sprintf("denying rules: check %v, the cluster %v", engine.denials, cluster.denials))
	}
	if engine.outcome != "allowed" {
		return diffs
	}
	if only, also := missing(engine.warnings, cluster.warnings), missing(cluster.warnings, engine.warnings); len(only)+len(also) > 0 {
		diffs = append(diffs, fmt.Sprintf("warnings only check gives: %q; only the cluster: %q", only, also))
	}
	if engine.annotation != cluster.annotation {
		diffs = append(diffs, fmt.Sprintf("injected fields: check %q, the cluster %q", engine.annotation, cluster.annotation))
	}
	for _, field := range strings.Split(engine.annotation, ",") {
		if field == "" {
			continue
		}
		want, wok := at(engine.object, field)
		got, gok := at(cluster.object, field)
		if !wok || !gok || !sameValue(want, got) {
			diffs = append(diffs, fmt.Sprintf("injected %s: check %v, the cluster %v", field, want, got))
		}
	}
	return diffs
}

// at is the value at a field path as the annotation writes it
// ("spec.template.spec.containers[0].resources.requests.cpu").
func at(obj map[string]any, field string) (any, bool) {
	var cur any = obj
	for _, tok := range strings.FieldsFunc(field, func(r rune) bool { return r == '.' || r == '[' || r == ']' }) {
		switch v := cur.(type) {
		case map[string]any:
			cur = v[tok]
		case []any:
			var i int
			if _, err := fmt.Sscan(tok, &i); err != nil || i >= len(v) {
				return nil, false
			}
			cur = v[i]
		default:
			return nil, false
		}
	}
	return cur, cur != nil
}

// sameValue compares JSON values, quantities by their value ("1000m" is "1").
func sameValue(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	sa, aok := a.(string)
	sb, bok := b.(string)
	if !aok || !bok {
		return false
	}
	qa, err1 := resource.ParseQuantity(sa)
	qb, err2 := resource.ParseQuantity(sb)
	return err1 == nil && err2 == nil && qa.Cmp(qb) == 0
}

// missing lists the items of a that b lacks.
func missing(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// TestOfflineDefaultsAreTheAPIServers: internal/defaults, which check and
// scan apply before judging, sets exactly what kube-apiserver's own
// defaulting sets, on every sample the API server accepts. The samples are
// dry-run created where the webhooks are not called (the webhook's own
// namespace), so the stored form is the API server's defaulting alone.
// internal/defaults is 1.37's defaulting; on an older API server the
// comparison is just as exact once the newer fields that server does not keep
// (defaults.NewerFields: a field or feature gate added later) are dropped from the
// offline side too: defaulting itself is the same from 1.30 to 1.37 on these
// samples, and any other difference fails.
func TestOfflineDefaultsAreTheAPIServers(t *testing.T) {
	ctx := context.Background()
	var samples [][]byte
	for _, dir := range []string{dstest.ExamplesDir, dstest.UnsafeDir, dstest.BypassDir, dstest.AllowedDir} {
		for _, f := range dstest.Corpus(t, dir) {
			samples = append(samples, inNamespace(t, f.Data, controlplane.WebhookNamespace))
		}
	}
	for _, ds := range dstest.RandomValidDaemonSets(19, randomSample) {
		data, err := json.Marshal(ds)
		if err != nil {
			t.Fatal(err)
		}
		samples = append(samples, inNamespace(t, data, controlplane.WebhookNamespace))
	}
	compared, dropped := 0, 0
	for _, data := range samples {
		u := unstructuredOf(t, data)
		if err := c.Create(ctx, u, client.DryRunAll); err != nil {
			continue // invalid for the API server: TestCheckEqualsTheCluster lists these
		}
		var server, offline appsv1.DaemonSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &server); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &offline); err != nil {
			t.Fatal(err)
		}
		defaults.DaemonSet(&offline)
		// internal/defaults is 1.37's; an older server also drops the newer
		// fields it does not keep (newerFields), and nothing else may differ.
		if changed := defaults.AsServerKeeps(&offline, serverMinor); len(changed) > 0 {
			t.Logf("%s: kube-apiserver 1.%d does not keep %s", u.GetName(), serverMinor, strings.Join(changed, ", "))
			dropped++
		}
		if d := cmp.Diff(&server.Spec, &offline.Spec, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 })); d != "" {
			t.Errorf("%s: the API server's defaults (-) and internal/defaults' (+) differ:\n%s", u.GetName(), d)
		}
		compared++
	}
	if compared < len(samples)/2 {
		t.Fatalf("only %d of %d samples compared", compared, len(samples))
	}
	t.Logf("kube-apiserver 1.%d: %d DaemonSets defaulted alike (%d after dropping the newer fields this version does not keep)", serverMinor, compared, dropped)
}
