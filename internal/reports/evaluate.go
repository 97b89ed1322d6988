package reports

import (
	"context"
	"encoding/json"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/review"
)

// Evaluation is one DaemonSet reviewed by the policy as if it were created
// now: what the rules found on it after mutation, which rules apply and
// which exemptions skip them. `scan` and the Reporter both evaluate with
// Evaluate, so they cannot say different things about one DaemonSet.
type Evaluation struct {
	Ref        corev1.ObjectReference
	Violations []policy.Violation
	Rules      []policy.RuleState
	Exemptions policy.Exemptions
	// Error is set when the engine could not review the DaemonSet, or the
	// mutating webhook would refuse it.
	Error string
	// Admission is the engine's whole answer, nil when it could not review
	// the DaemonSet: what scan prints besides the Report's results.
	Admission *review.Admission
	// Object is the DaemonSet's JSON as reviewed.
	Object []byte
}

// Evaluate reviews ds with p the way the API server would on a CREATE: the
// mutating webhook's patch applied, then the rules (review.Admit, the code
// the webhook and `check` run).
func Evaluate(ctx context.Context, p *policy.Policy, ds *appsv1.DaemonSet) (Evaluation, error) {
	ev := Evaluation{Ref: Ref(ds), Rules: p.Rules(), Exemptions: p.Exemptions(ds.Namespace, ds)}
	obj := ds.DeepCopy()
	obj.APIVersion, obj.Kind = "apps/v1", "DaemonSet"
	obj.ManagedFields, obj.Status = nil, appsv1.DaemonSetStatus{}
	data, err := json.Marshal(obj)
	if err != nil {
		return ev, err
	}
	ev.Object = data
	a, err := review.Admit(ctx, p, ds.Namespace, data, nil)
	if err != nil {
		ev.Error = err.Error()
		return ev, nil
	}
	ev.Admission = a
	if !a.Mutation.Response.Allowed {
		ev.Error = a.Mutation.Response.Result.Message
		return ev, nil
	}
	ev.Violations = a.Validation.Verdict.Violations
	return ev, nil
}

// Ref is the reference results carry to ds.
func Ref(ds *appsv1.DaemonSet) corev1.ObjectReference {
	return corev1.ObjectReference{APIVersion: "apps/v1", Kind: "DaemonSet", Namespace: ds.Namespace, Name: ds.Name, UID: ds.UID}
}
