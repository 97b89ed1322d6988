package review

import (
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonguard/daemonguard/webhook/policy"
)

// Admission is one DaemonSet taken through both webhooks.
type Admission struct {
	Mutation   Outcome
	Validation Outcome
	// Object is the DaemonSet's JSON after the mutating webhook's patch.
	Object []byte
}

// Admit reviews one DaemonSet the way the API server calls daemonguard: the
// mutating webhook first, its patch applied to the object, then the
// validating webhook on the result. old, when set, makes it an UPDATE. This
// is the offline `check` path; it goes through the same decode, policy and
// patch code as the webhook, and applies the real patch.
func Admit(p *policy.Policy, namespace string, object, old []byte) (*Admission, error) {
	req := &Request{
		UID:       "offline",
		Kind:      metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"},
		Namespace: namespace,
		Operation: admissionv1.Create,
	}
	var err error
	if req.Object, err = DecodeObject(object); err != nil {
		return nil, fmt.Errorf("decoding DaemonSet: %w", err)
	}
	req.Name = req.Object.Name()
	if old != nil {
		req.Operation = admissionv1.Update
		if req.OldObject, err = DecodeObject(old); err != nil {
			return nil, fmt.Errorf("decoding old DaemonSet: %w", err)
		}
	}
	a := &Admission{Mutation: Mutate(p, req), Object: object}
	if !a.Mutation.Response.Allowed {
		return a, nil
	}
	if len(a.Mutation.Response.Patch) > 0 {
		patch, err := jsonpatch.DecodePatch(a.Mutation.Response.Patch)
		if err != nil {
			return nil, fmt.Errorf("decoding daemonguard's own patch: %w", err)
		}
		if a.Object, err = patch.Apply(object); err != nil {
			return nil, fmt.Errorf("applying daemonguard's own patch: %w", err)
		}
		if req.Object, err = DecodeObject(a.Object); err != nil {
			return nil, fmt.Errorf("decoding mutated DaemonSet: %w", err)
		}
	}
	a.Validation = Validate(p, req)
	return a, nil
}
