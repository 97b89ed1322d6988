package review

import (
	"context"
	"fmt"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonguard/daemonguard/internal/defaults"
	"github.com/daemonguard/daemonguard/internal/policy"
)

// Admission is one DaemonSet taken through both webhooks.
type Admission struct {
	Mutation   Outcome
	Validation Outcome
	// Object is the DaemonSet's JSON after the mutating webhook's patch.
	Object []byte
	// NotKept are the fields of the object that the kube-apiserver version
	// judged for (AdmitFor) drops or resets before calling the webhooks,
	// so they were judged without (defaults.NewerFields).
	NotKept []string
}

// Admit reviews one DaemonSet the way the API server calls daemonguard: the
// mutating webhook first, its patch applied to the object, then the
// validating webhook on the result. old, when set, makes it an UPDATE. This
// is the offline `check` path; it goes through the same decode, policy and
// patch code as the webhook, and applies the real patch.
//
// The API server defaults an object before it calls the webhooks; a file
// or a stored object is judged as the webhook would see it, with the same
// defaults (internal/defaults). The patch and Object stay relative to the
// JSON given, so check's output is the input plus what was injected.
func Admit(ctx context.Context, p *policy.Policy, namespace string, object, old []byte) (*Admission, error) {
	return AdmitFor(ctx, p, namespace, object, old, defaults.Newest)
}

// AdmitFor is Admit as kube-apiserver 1.<serverMinor> (a supported version,
// with its default feature gates) calls the webhooks: the newer fields that
// version does not keep (defaults.NewerFields) are judged as it stores them,
// as the webhook and the node see them there.
func AdmitFor(ctx context.Context, p *policy.Policy, namespace string, object, old []byte, serverMinor int) (*Admission, error) {
	req := &Request{
		defaulted:   true,
		serverMinor: serverMinor,
		Header: Header{
			UID:       "offline",
			Kind:      metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"},
			Namespace: namespace,
			Operation: admissionv1.Create,
		},
		Object: object,
	}
	if old != nil {
		req.Operation, req.OldObject = admissionv1.Update, old
	}
	if err := req.decodeObjects(); err != nil {
		return nil, err
	}
	if req.daemonSet != nil {
		req.Name = req.daemonSet.Name
	}
	a := &Admission{Mutation: Mutate(ctx, p, req), Object: object, NotKept: req.notKept}
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
		req.Object = a.Object
		if req.daemonSet, err = decodeDaemonSet(a.Object); err != nil {
			return nil, fmt.Errorf("decoding mutated DaemonSet: %w", err)
		}
		if req.daemonSet != nil {
			defaults.DaemonSet(req.daemonSet)
			defaults.AsServerKeeps(req.daemonSet, serverMinor)
		}
	}
	a.Validation = Validate(ctx, p, req)
	return a, nil
}
