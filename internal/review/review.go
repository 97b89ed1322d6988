// Package review turns an AdmissionReview into daemonguard's verdict and back.
// It decodes the DaemonSets in a review whole, with the API server's own
// decoder, runs exactly the policy code the offline `check` runs, and fits
// the mutators' own additive patch to the JSON the API server sent.
package review

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	kjson "sigs.k8s.io/json"

	"github.com/daemonguard/daemonguard/internal/defaults"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/mutators/patch"
)

// Header is what daemonguard reads of an admission.k8s.io/v1
// AdmissionRequest besides its objects.
type Header struct {
	UID         types.UID               `json:"uid"`
	Kind        metav1.GroupVersionKind `json:"kind"`
	SubResource string                  `json:"subResource"`
	Name        string                  `json:"name"`
	Namespace   string                  `json:"namespace"`
	Operation   admissionv1.Operation   `json:"operation"`
	DryRun      bool                    `json:"dryRun"` // only logged: absent or null is false, and no pointer to allocate
}

// Request is the part of an admission.k8s.io/v1 AdmissionRequest daemonguard reads.
type Request struct {
	Header
	// Object and OldObject are the JSON the API server sent: the patch is
	// fitted to Object exactly as it is. A decoded review finds Object in
	// its body only when a patch needs it.
	Object    json.RawMessage `json:"object"`
	OldObject json.RawMessage `json:"oldObject"`

	// daemonSet and oldDaemonSet are Object and OldObject decoded whole.
	// A decoded review decodes OldObject only when a rule asks for it
	// (previous), and oldDecoded says it has been.
	daemonSet, oldDaemonSet *appsv1.DaemonSet
	oldDecoded              bool
	// body is the review Decode read, where Object's JSON lies.
	body []byte
	// defaulted applies the API server's defaults to the decoded objects:
	// set offline (Admit), where nothing has defaulted them yet.
	defaulted bool
	// serverMinor, offline, is the kube-apiserver minor version judged
	// for: the newer fields it does not keep are dropped from the decoded
	// objects (defaults.AsServerKeeps); 0 is defaults.Newest.
	serverMinor int
	// notKept are the fields of the object serverMinor dropped or reset.
	notKept []string
}

// wireRequest is a DaemonSet review as it is decoded: in one pass, the
// object straight into a typed DaemonSet; the old object of an UPDATE is
// kept as sent, to be decoded if a rule needs it.
type wireRequest struct {
	Header
	Object    *appsv1.DaemonSet `json:"object"`
	OldObject json.RawMessage   `json:"oldObject"`
}

// reviewAPIVersion is admissionv1.SchemeGroupVersion.String(), without
// building it on every request.
const reviewAPIVersion = "admission.k8s.io/v1"

type reviewEnvelope[R any] struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Request    *R     `json:"request"`
}

// DecodeError is a review daemonguard cannot read. UID is set when the
// request got far enough to be answered with an AdmissionResponse.
type DecodeError struct {
	UID types.UID
	Err error
}

func (e *DecodeError) Error() string { return e.Err.Error() }

// Decode reads an AdmissionReview. The objects of a review of an apps/v1
// DaemonSet are decoded whole, into the same typed DaemonSet the offline
// check uses; those of anything else are left as they are, so the caller can
// answer without guessing at an unknown shape.
func Decode(body []byte) (*Request, error) {
	// The common case in one pass: a DaemonSet review, its objects decoded
	// straight into typed DaemonSets.
	var env reviewEnvelope[wireRequest]
	if err := unmarshal(body, &env); err != nil {
		return decodeOther(body, err)
	}
	if err := checkEnvelope(env.APIVersion, env.Kind, env.Request == nil); err != nil {
		return nil, err
	}
	w := env.Request
	req := &Request{Header: w.Header, body: body}
	if req.UID == "" {
		return nil, &DecodeError{Err: errors.New("AdmissionReview request has no uid")}
	}
	if req.IsDaemonSet() {
		req.daemonSet, req.OldObject = w.Object, w.OldObject
	}
	return req, nil
}

// decodeOther reads a review whose objects are not DaemonSets (a
// misconfigured webhook sends them: they are let through unread), or
// reports why a DaemonSet review cannot be read, with its uid when it has
// one so the API server gets a proper denial rather than a transport error.
func decodeOther(body []byte, typedErr error) (*Request, error) {
	var env reviewEnvelope[Request]
	if err := kjson.UnmarshalCaseSensitivePreserveInts(body, &env); err != nil {
		var idOnly struct {
			Request struct {
				UID types.UID `json:"uid"`
			} `json:"request"`
		}
		_ = kjson.UnmarshalCaseSensitivePreserveInts(body, &idOnly)
		return nil, &DecodeError{UID: idOnly.Request.UID, Err: fmt.Errorf("decoding AdmissionReview: %w", err)}
	}
	if err := checkEnvelope(env.APIVersion, env.Kind, env.Request == nil); err != nil {
		return nil, err
	}
	req := env.Request
	if req.UID == "" {
		return nil, &DecodeError{Err: errors.New("AdmissionReview request has no uid")}
	}
	if req.IsDaemonSet() {
		return nil, &DecodeError{UID: req.UID, Err: fmt.Errorf("decoding AdmissionReview: %w", typedErr)}
	}
	return req, nil
}

func checkEnvelope(apiVersion, kind string, noRequest bool) error {
	if apiVersion != reviewAPIVersion || kind != "AdmissionReview" {
		return &DecodeError{Err: fmt.Errorf("expected an admission.k8s.io/v1 AdmissionReview, got apiVersion %q kind %q", apiVersion, kind)}
	}
	if noRequest {
		return &DecodeError{Err: errors.New("AdmissionReview has no request")}
	}
	return nil
}

// object returns Object's JSON, found in the review's body if need be.
func (r *Request) object() []byte {
	if r.Object == nil && r.body != nil {
		if start, end, ok := patch.Locate(r.body, "/request/object"); ok {
			r.Object = r.body[start:end]
		}
	}
	return r.Object
}

// decodeObjects decodes the objects of a DaemonSet review.
func (r *Request) decodeObjects() error {
	if !r.IsDaemonSet() {
		return nil
	}
	var err error
	if r.daemonSet, err = decodeDaemonSet(r.Object); err != nil {
		return fmt.Errorf("object: %w", err)
	}
	if r.oldDaemonSet, err = decodeDaemonSet(r.OldObject); err != nil {
		return fmt.Errorf("oldObject: %w", err)
	}
	r.oldDecoded = true
	if r.defaulted {
		for _, ds := range []*appsv1.DaemonSet{r.daemonSet, r.oldDaemonSet} {
			if ds != nil {
				defaults.DaemonSet(ds)
			}
		}
		if r.daemonSet != nil {
			r.notKept = defaults.AsServerKeeps(r.daemonSet, r.serverMinor)
		}
		if r.oldDaemonSet != nil {
			defaults.AsServerKeeps(r.oldDaemonSet, r.serverMinor)
		}
	}
	return nil
}

// decodeDaemonSet decodes one DaemonSet as the API server does: field names
// match case-sensitively, unknown fields are ignored. Absent or null is nil.
func decodeDaemonSet(data []byte) (*appsv1.DaemonSet, error) {
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	ds := &appsv1.DaemonSet{}
	if err := unmarshal(data, ds); err != nil {
		return nil, err
	}
	return ds, nil
}

// DaemonSet is the reviewed object, decoded (nil for other kinds). It is
// shared: read it only.
func (r *Request) DaemonSet() *appsv1.DaemonSet { return r.daemonSet }

// IsDaemonSet reports whether the request is for the apps/v1 DaemonSet
// resource itself, not a subresource.
func (r *Request) IsDaemonSet() bool {
	return r.Kind.Group == "apps" && r.Kind.Version == "v1" && r.Kind.Kind == "DaemonSet" && r.SubResource == ""
}

// Outcome is one review's answer plus what the metrics need to know.
type Outcome struct {
	Response   admissionv1.AdmissionResponse
	Mutation   policy.Mutation
	Verdict    policy.Verdict
	Operations []patch.Operation
	// Reviewed is false when the request was let through unexamined (not a
	// DaemonSet CREATE or UPDATE).
	Reviewed bool
}

// Mutate answers a mutating review.
func Mutate(ctx context.Context, p *policy.Policy, req *Request) Outcome {
	out, review := begin(req)
	if !review {
		return out
	}
	mutation := p.Mutate(ctx, req.Namespace, req.daemonSet)
	// Counted even when nothing else is said.
	out.Mutation.Exempted = mutation.Exempted
	if len(mutation.Patch) == 0 && len(mutation.Warnings) == 0 && len(mutation.Notes) == 0 {
		// Nothing to say: the JSON is not read again.
		return out
	}
	// The API server validates DaemonSets only after mutating webhooks run,
	// so this webhook can be sent objects without metadata or a pod
	// template; those are left for the API server to reject.
	doc := patch.NewDocument(req.object())
	if !doc.Exists("/metadata") || !doc.Exists("/spec/template/spec") {
		return out
	}
	out.Mutation = mutation
	out.Response.Warnings = append(slices.Clip(out.Mutation.Warnings), out.Mutation.Notes...)
	if len(out.Mutation.Patch) == 0 {
		return out
	}
	ops, err := doc.Anchor(out.Mutation.Patch)
	if err != nil {
		return errored(req.UID, http.StatusInternalServerError, fmt.Errorf("fitting the patch to the object: %w", err))
	}
	out.Operations = ops
	body, err := json.Marshal(ops)
	if err != nil {
		return errored(req.UID, http.StatusInternalServerError, fmt.Errorf("encoding patch: %w", err))
	}
	pt := admissionv1.PatchTypeJSONPatch
	out.Response.Patch, out.Response.PatchType = body, &pt
	return out
}

// Validate answers a validating review.
func Validate(ctx context.Context, p *policy.Policy, req *Request) Outcome {
	out, review := begin(req)
	if !review {
		return out
	}
	var old policy.Previous
	if req.Operation == admissionv1.Update {
		old = previous{req}
	}
	out.Verdict = p.ValidateUpdate(ctx, req.Namespace, old, req.daemonSet)
	out.Response.Warnings = out.Verdict.Warnings()
	out.Response.AuditAnnotations = auditAnnotations(&out.Verdict)
	if !out.Verdict.Allowed() {
		out.Response.Allowed = false
		status := out.Verdict.Status(req.Namespace, named(req)).ErrStatus
		out.Response.Result = &status
	}
	return out
}

// begin answers the requests daemonguard lets through or refuses without
// running the policy; review is true when the policy must run, and out is
// then an allowed, reviewed outcome to fill in.
func begin(req *Request) (out Outcome, review bool) {
	switch {
	case req.Kind.Group == "apps" && req.Kind.Kind == "DaemonSet" && req.Kind.Version != "v1":
		// The webhook configurations match apps/v1 with matchPolicy
		// Equivalent, so this is a misconfiguration; refuse what we cannot read.
		return errored(req.UID, http.StatusBadRequest,
			fmt.Errorf("daemonguard reviews apps/v1 DaemonSets; it cannot read %s", req.Kind.Version)), false
	case req.IsDaemonSet() && (req.Operation == admissionv1.Create || req.Operation == admissionv1.Update):
	default:
		return Outcome{Response: admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}}, false
	}
	switch {
	case req.daemonSet == nil:
		return errored(req.UID, http.StatusBadRequest, errors.New("the request has no object to review")), false
	case req.Operation == admissionv1.Update && !req.hasOld():
		return errored(req.UID, http.StatusBadRequest, errors.New("the UPDATE request has no oldObject to compare with")), false
	}
	return Outcome{Response: admissionv1.AdmissionResponse{UID: req.UID, Allowed: true}, Reviewed: true}, true
}

func errored(uid types.UID, code int32, err error) Outcome {
	return Outcome{Response: admissionv1.AdmissionResponse{
		UID: uid, Allowed: false,
		Result: &metav1.Status{Status: metav1.StatusFailure, Code: code, Message: err.Error(), Reason: reasonFor(code)},
	}}
}

// Errored answers a review that failed before the policy ran.
func Errored(uid types.UID, code int32, err error) admissionv1.AdmissionResponse {
	return errored(uid, code, err).Response
}

func reasonFor(code int32) metav1.StatusReason {
	switch code {
	case http.StatusBadRequest:
		return metav1.StatusReasonBadRequest
	case http.StatusRequestEntityTooLarge:
		return metav1.StatusReasonRequestEntityTooLarge
	}
	return metav1.StatusReasonInternalError
}

// named is the reviewed DaemonSet with the request's name when the object
// carries none.
func named(req *Request) *appsv1.DaemonSet {
	if req.daemonSet.Name != "" || req.Name == "" {
		return req.daemonSet
	}
	ds := *req.daemonSet
	ds.Name = req.Name
	return &ds
}

// auditAnnotations collects audit-mode findings per rule. The API server
// prefixes each key with the webhook's name in the audit event.
func auditAnnotations(v *policy.Verdict) map[string]string {
	var m map[string]string
	for _, x := range v.Violations {
		if x.Action != policy.Audit {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		line := x.Field + ": " + x.Message
		if prev := m[x.Rule]; prev != "" {
			line = prev + "; " + line
		}
		m[x.Rule] = line
	}
	return m
}

// Encode returns resp as an admission.k8s.io/v1 AdmissionReview.
func Encode(resp *admissionv1.AdmissionResponse) ([]byte, error) {
	var buf bytes.Buffer
	if err := EncodeTo(&buf, resp); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// EncodeTo appends resp to buf as an admission.k8s.io/v1 AdmissionReview,
// the same bytes Encode returns. The webhook encodes into a pooled buffer:
// json.Marshal would allocate a new result for every response.
func EncodeTo(buf *bytes.Buffer, resp *admissionv1.AdmissionResponse) error {
	start := buf.Len()
	err := json.NewEncoder(buf).Encode(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: reviewAPIVersion, Kind: "AdmissionReview"},
		Response: resp,
	})
	if err != nil {
		buf.Truncate(start)
		return err
	}
	buf.Truncate(buf.Len() - 1) // the newline Encoder adds and Marshal does not
	return nil
}
