package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/validators"
)

// probeRule sees the whole object: its one finding is the DaemonSet it was
// given, as JSON. With it in the policy, the property below compares every
// field a rule could read, not only the fields today's rules happen to read;
// a webhook that dropped any field on the way (as the old slim view did)
// would show it here.
type probeRule struct{}

func (probeRule) Validate(_ context.Context, t *validators.Target) field.ErrorList {
	b, err := json.Marshal(t.DaemonSet)
	if err != nil {
		return field.ErrorList{field.InternalError(field.NewPath("probe"), err)}
	}
	return field.ErrorList{field.Forbidden(field.NewPath("probe"), string(b))}
}

func probePolicy(t testing.TB) *policy.Policy {
	t.Helper()
	cfg, err := config.Parse([]byte("apiVersion: daemonguard.io/v1alpha1\nkind: Policy\nvalidation:\n  rules:\n    privileged-container: enforce\n    ineffective-toleration: audit\n"))
	if err != nil {
		t.Fatal(err)
	}
	rules := append(validators.Registry(), validators.Definition{
		Meta: validators.Meta{ID: "probe-whole-object", Default: config.Warn, Summary: "test", Why: "test", Reads: []string{"*"}},
		New:  func(validators.Options) validators.Rule { return probeRule{} },
	})
	p, err := policy.New(cfg, policy.Options{Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// randomDaemonSets are dstest.RandomDaemonSets as the JSON the API server sends.
func randomDaemonSets(t testing.TB, seed int64, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for _, ds := range dstest.RandomDaemonSets(t, seed, n) {
		b, err := json.Marshal(ds)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// outcome is what a user can see of one DaemonSet's admission.
type outcome struct {
	Allowed          bool
	MutationWarnings []string
	Warnings         []string
	Causes           []string
	Audit            map[string]string
	Object           *appsv1.DaemonSet
}

// throughWebhook sends the object through both handlers as raw reviews, as
// the API server does, applying the mutating webhook's patch in between.
func throughWebhook(t *testing.T, mutate, validate *Handler, object []byte) outcome {
	t.Helper()
	_, m := post(t, mutate, dstest.ReviewBody(t, admissionv1.Create, "monitoring", object, nil))
	if m == nil || !m.Allowed {
		t.Fatalf("mutating webhook refused: %+v", m)
	}
	patched := object
	if len(m.Patch) > 0 {
		p, err := jsonpatch.DecodePatch(m.Patch)
		if err != nil {
			t.Fatal(err)
		}
		if patched, err = p.Apply(object); err != nil {
			t.Fatalf("the patch does not apply: %v", err)
		}
	}
	_, v := post(t, validate, dstest.ReviewBody(t, admissionv1.Create, "monitoring", patched, nil))
	if v == nil {
		t.Fatal("validating webhook answered with an HTTP error")
	}
	o := outcome{Allowed: v.Allowed, MutationWarnings: m.Warnings, Warnings: v.Warnings, Audit: v.AuditAnnotations, Object: &appsv1.DaemonSet{}}
	if v.Result != nil && v.Result.Details != nil {
		for _, c := range v.Result.Details.Causes {
			o.Causes = append(o.Causes, c.Field+": "+c.Message)
		}
	}
	if err := json.Unmarshal(patched, o.Object); err != nil {
		t.Fatal(err)
	}
	return o
}

// onTypedObject runs the policy on the typed object directly, as `check`'s
// engine and every policy test do.
func onTypedObject(t *testing.T, p *policy.Policy, object []byte) outcome {
	t.Helper()
	ds := &appsv1.DaemonSet{}
	if err := json.Unmarshal(object, ds); err != nil {
		t.Fatal(err)
	}
	m := p.Mutate(t.Context(), "monitoring", ds)
	v := p.Validate(t.Context(), "monitoring", nil, ds)
	o := outcome{Allowed: v.Allowed(), MutationWarnings: append(m.Warnings, m.Notes...), Warnings: v.Warnings(), Object: ds}
	for _, e := range v.Denials() {
		o.Causes = append(o.Causes, e.Field+": "+e.ErrorBody())
	}
	for _, x := range v.Violations {
		if x.Action == policy.Audit {
			if o.Audit == nil {
				o.Audit = map[string]string{}
			}
			line := x.Field + ": " + x.Message
			if prev := o.Audit[x.Rule]; prev != "" {
				line = prev + "; " + line
			}
			o.Audit[x.Rule] = line
		}
	}
	return o
}

func differences(a, b outcome) []string {
	var out []string
	if a.Allowed != b.Allowed {
		out = append(out, fmt.Sprintf("allowed %v vs %v", a.Allowed, b.Allowed))
	}
	for _, c := range []struct {
		what string
		x, y any
	}{
		{"mutation warnings", a.MutationWarnings, b.MutationWarnings},
		{"warnings", a.Warnings, b.Warnings},
		{"denial causes", a.Causes, b.Causes},
		{"audit annotations", a.Audit, b.Audit},
	} {
		if d := dstest.Diff(c.y, c.x); d != "" {
			out = append(out, fmt.Sprintf("%s (-typed +webhook):\n%s", c.what, d))
		}
	}
	if d := dstest.Diff(b.Object, a.Object); d != "" {
		out = append(out, "the mutated objects (-typed +webhook):\n"+d)
	}
	return out
}

func handlers(t *testing.T, p *policy.Policy) (mutate, validate *Handler) {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	current := func() *policy.Policy { return p }
	return NewMutatingHandler(current, m, logr.Discard()), NewValidatingHandler(current, m, logr.Discard())
}

// TestWebhookEqualsTypedPolicy: random DaemonSets through the webhook as raw
// AdmissionReviews and through the policy on the typed object give the same
// verdict, findings (the probe's included: it is the whole object) and
// mutated object.
func TestWebhookEqualsTypedPolicy(t *testing.T) {
	p := probePolicy(t)
	mutate, validate := handlers(t, p)
	objects := randomDaemonSets(t, 20261202, 300)
	denied, mutated := 0, 0
	for i, obj := range objects {
		web := throughWebhook(t, mutate, validate, obj)
		typed := onTypedObject(t, p, obj)
		if d := differences(web, typed); len(d) > 0 {
			t.Fatalf("object %d of seed 20261202: the webhook and the typed policy disagree:\n%s", i, strings.Join(d, "\n"))
		}
		if !web.Allowed {
			denied++
		}
		if len(web.Object.Annotations[policy.InjectedAnnotation]) > 0 {
			mutated++
		}
	}
	// The generator must exercise both outcomes, or the property says little.
	if denied < len(objects)/5 || denied > len(objects)*19/20 || mutated < len(objects)/5 {
		t.Fatalf("generator too narrow: %d of %d denied, %d mutated", denied, len(objects), mutated)
	}
	t.Logf("%d random DaemonSets: %d denied, %d mutated", len(objects), denied, mutated)
}

// TestPropertyCatchesADroppedField shows the property is not the kind of test
// the slim view passed: drop one field on the webhook's way in (here by
// deleting it from the JSON the webhook receives, the same loss a partial
// decode causes) and the comparison fails.
func TestPropertyCatchesADroppedField(t *testing.T) {
	p := probePolicy(t)
	mutate, validate := handlers(t, p)
	for _, name := range []string{"hostIPC", "hostNetwork", "shareProcessNamespace"} {
		t.Run(name, func(t *testing.T) {
			ds := dstest.DaemonSet(dstest.Container("agent"))
			spec := &ds.Spec.Template.Spec
			spec.HostIPC, spec.HostNetwork, spec.ShareProcessNamespace = true, true, new(bool)
			*spec.ShareProcessNamespace = true
			full, err := json.Marshal(ds)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(full, &m); err != nil {
				t.Fatal(err)
			}
			delete(m["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any), name)
			lossy, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if d := differences(throughWebhook(t, mutate, validate, lossy), onTypedObject(t, p, full)); len(d) == 0 {
				t.Fatalf("dropping %s went unnoticed", name)
			}
		})
	}
}
