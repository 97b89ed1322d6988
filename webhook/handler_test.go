package webhook

import (
	"bytes"
	"encoding/json"
	"github.com/daemonguard/daemonguard/test/dstest"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
)

// fixture loads a DaemonSet from deploy/examples as the JSON the API server sends.
func fixture(t testing.TB, name string) json.RawMessage { return dstest.ExampleJSON(t, name) }

func reviewBody(t testing.TB, op string, object, old json.RawMessage) []byte {
	return dstest.ReviewBody(t, admissionv1.Operation(op), "monitoring", object, old)
}

type endpoint struct {
	handler *Handler
	reg     *prometheus.Registry
}

func newEndpoint(t testing.TB, mutating bool) endpoint {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.New(config.Defaults(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	current := func() *policy.Policy { return p }
	if mutating {
		return endpoint{NewMutatingHandler(current, m, logr.Discard()), reg}
	}
	return endpoint{NewValidatingHandler(current, m, logr.Discard()), reg}
}

func post(t testing.TB, h http.Handler, body []byte) (*httptest.ResponseRecorder, *admissionv1.AdmissionResponse) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/x", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		return w, nil
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(w.Body.Bytes(), &review); err != nil {
		t.Fatalf("response is not an AdmissionReview: %v\n%s", err, w.Body.String())
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" || review.Response == nil {
		t.Fatalf("bad response envelope: %s", w.Body.String())
	}
	return w, review.Response
}

func TestMutateNodeExporterPatch(t *testing.T) {
	e := newEndpoint(t, true)
	obj := fixture(t, "gpu-monitor.yaml")
	_, resp := post(t, e.handler, reviewBody(t, "CREATE", obj, nil))
	if !resp.Allowed || resp.UID != "7f0b2f2a-0000-4000-8000-000000000001" {
		t.Fatalf("want allowed with the request uid, got %+v", resp)
	}
	if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
		t.Fatalf("want JSONPatch, got %v", resp.PatchType)
	}
	var ops []map[string]any
	if err := json.Unmarshal(resp.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, op := range ops {
		if op["op"] != "add" {
			t.Errorf("only add operations expected, got %v", op)
		}
		paths = append(paths, op["path"].(string))
	}
	want := []string{
		"/metadata/annotations",
		"/spec/template/spec/tolerations",
		"/spec/template/spec/priorityClassName",
		"/spec/template/spec/containers/0/resources",
	}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("patch paths:\n got %v\nwant %v", paths, want)
	}
	// The patch applies to the object the API server sent and yields a valid,
	// complete DaemonSet.
	patch, err := jsonpatch.DecodePatch(resp.Patch)
	if err != nil {
		t.Fatal(err)
	}
	out, err := patch.Apply(obj)
	if err != nil {
		t.Fatal(err)
	}
	var ds appsv1.DaemonSet
	if err := json.Unmarshal(out, &ds); err != nil {
		t.Fatal(err)
	}
	spec := ds.Spec.Template.Spec
	if spec.PriorityClassName != "infra-daemonset" || len(spec.Tolerations) != 1 ||
		spec.Containers[0].Resources.Requests.Cpu().String() != "50m" || spec.Containers[0].Resources.Limits.Memory().String() != "512Mi" || spec.Containers[0].Resources.Limits.Cpu().String() != "0" {
		t.Fatalf("mutated spec not as expected: %+v", spec)
	}
	if ds.Annotations[policy.InjectedAnnotation] == "" {
		t.Fatal("injected annotation missing")
	}
	if got := counter(t, e.reg, "daemonguard_admission_reviews_total", map[string]string{"webhook": "mutate", "operation": "CREATE", "result": "mutated"}); got != 1 {
		t.Fatalf("mutated counter = %v", got)
	}

	// Reviewing the mutated object again changes nothing: no patch at all.
	_, again := post(t, e.handler, reviewBody(t, "UPDATE", out, out))
	if !again.Allowed || again.Patch != nil || again.PatchType != nil {
		t.Fatalf("second pass must not patch, got %+v", again)
	}
}

func TestValidateDenialIs422WithCauses(t *testing.T) {
	e := newEndpoint(t, false)
	obj := json.RawMessage(`{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"bad","namespace":"monitoring"},
	 "spec":{"template":{"spec":{"hostPID":true,
	   "initContainers":[{"name":"setup","image":"busybox","volumeMounts":[{"name":"etc","mountPath":"/host/etc"}]}],
	   "containers":[{"name":"agent","image":"agent","securityContext":{"privileged":true},
	     "volumeMounts":[{"name":"sock","mountPath":"/var/run/containerd","readOnly":true}]}],
	   "volumes":[{"name":"etc","hostPath":{"path":"//etc/"}},{"name":"sock","hostPath":{"path":"/var/run/containerd"}}]}}}}`)
	_, resp := post(t, e.handler, reviewBody(t, "CREATE", obj, nil))
	if resp.Allowed {
		t.Fatal("want denied")
	}
	st := resp.Result
	if st == nil || st.Code != 422 || st.Reason != "Invalid" || st.Details == nil || st.Details.Kind != "DaemonSet" || st.Details.Group != "apps" || st.Details.Name != "bad" {
		t.Fatalf("want a 422 Invalid status for apps DaemonSet bad, got %+v", st)
	}
	got := map[string]string{}
	for _, c := range st.Details.Causes {
		if c.Type != "FieldValueForbidden" {
			t.Errorf("cause type %q", c.Type)
		}
		// The API server shows "Forbidden: [rule] detail" per cause.
		if !strings.HasPrefix(c.Message, "Forbidden: [") {
			t.Errorf("cause message %q", c.Message)
			continue
		}
		rule := c.Message[len("Forbidden: ") : strings.Index(c.Message, "]")+1]
		got[c.Field+" "+rule] = c.Message
	}
	for _, want := range []string{
		"spec.template.spec.initContainers[0].volumeMounts[0] [hostpid-writable-hostpath]",
		"spec.template.spec.containers[0].securityContext.privileged [hostpid-privileged]",
		"spec.template.spec.initContainers[0].volumeMounts[0] [writable-sensitive-hostpath]",
		"spec.template.spec.containers[0].volumeMounts[0] [container-runtime-socket]",
	} {
		if _, ok := got[want]; !ok {
			t.Errorf("missing cause %q; got %v", want, got)
		}
	}
	if len(st.Details.Causes) != 4 {
		t.Errorf("want exactly 4 causes, got %d: %v", len(st.Details.Causes), got)
	}
	if !strings.Contains(st.Message, `DaemonSet.apps "bad" is invalid`) {
		t.Errorf("message %q", st.Message)
	}
	// The causes are the findings; the message ends with the admin's way out.
	if !strings.HasSuffix(st.Message, "daemonSets: [bad], rules: [hostpid-writable-hostpath, hostpid-privileged, writable-sensitive-hostpath, container-runtime-socket]} ("+policy.ExemptionsURL+"; `daemonguard check` prints it too)") ||
		!strings.Contains(st.Message, ". An admin can exempt this DaemonSet alone from ") {
		t.Errorf("message does not end with the exemption pointer: %q", st.Message)
	}
	if got := counter(t, e.reg, "daemonguard_rule_findings_total", map[string]string{"rule": "hostpid-privileged", "action": "deny", "ratcheted": "false", "daemonset_namespace": "monitoring"}); got != 1 {
		t.Errorf("findings counter = %v", got)
	}
}

// TestExemptionHitsAreCounted: an exemption that skips a mutator or a rule is
// counted once per review, by webhook and policy entry; one that matches
// nothing the DaemonSet would meet is not.
func TestExemptionHitsAreCounted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`apiVersion: daemonguard.io/v1alpha1
kind: Policy
exemptions:
- namespaces: [elsewhere]
- namespaces: [monitoring]
  rules: [resources, hostpid-privileged, privileged-container]
  reason: debugging
`))
	if err != nil {
		t.Fatal(err)
	}
	p, err := policy.New(cfg, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	current := func() *policy.Policy { return p }
	obj := fixture(t, "unsafe/node-debugger.yaml")
	for _, h := range []*Handler{NewMutatingHandler(current, m, logr.Discard()), NewValidatingHandler(current, m, logr.Discard())} {
		post(t, h, reviewBody(t, "CREATE", obj, nil))
		post(t, h, reviewBody(t, "CREATE", obj, nil))
	}
	for _, webhook := range []string{"mutate", "validate"} {
		if got := counter(t, reg, "daemonguard_exemption_hits_total", map[string]string{"webhook": webhook, "exemption": "exemptions[1]"}); got != 2 {
			t.Errorf("%s: exemption hits of exemptions[1] = %v, want 2 (one per review)", webhook, got)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "daemonguard_exemption_hits_total" && len(mf.Metric) != 2 {
			t.Errorf("%d exemption-hit series, want 2 (exemptions[0] matches another namespace)", len(mf.Metric))
		}
	}
}

func TestValidateWarningsAndAudit(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, _ := NewMetrics(reg)
	cfg, err := config.Parse([]byte("apiVersion: daemonguard.io/v1alpha1\nkind: Policy\nvalidation:\n  rules:\n    privileged-container: audit\n"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := policy.New(cfg, policy.Options{})
	h := NewValidatingHandler(func() *policy.Policy { return p }, m, logr.Discard())
	obj := json.RawMessage(`{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"w"},"spec":{"template":{"spec":{
	  "tolerations":[{"key":"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute","tolerationSeconds":300}],
	  "containers":[{"name":"c","image":"i","securityContext":{"privileged":true}}]}}}}`)
	_, resp := post(t, h, reviewBody(t, "CREATE", obj, nil))
	if !resp.Allowed || resp.Result != nil {
		t.Fatalf("want allowed, got %+v", resp)
	}
	if len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], "[ineffective-toleration] spec.template.spec.tolerations[0].tolerationSeconds: tolerationSeconds: 300 is ignored") {
		t.Fatalf("warnings %q", resp.Warnings)
	}
	if a := resp.AuditAnnotations["privileged-container"]; !strings.HasPrefix(a, "spec.template.spec.containers[0].securityContext.privileged: ") {
		t.Fatalf("audit annotations %v", resp.AuditAnnotations)
	}
}

func TestValidateRatchetsOnUpdate(t *testing.T) {
	e := newEndpoint(t, false)
	old := json.RawMessage(`{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{"name":"legacy"},"spec":{"template":{"spec":{
	  "containers":[{"name":"c","image":"v1","volumeMounts":[{"name":"d","mountPath":"/d"}]}],
	  "volumes":[{"name":"d","hostPath":{"path":"/var/run/docker.sock"}}]}}}}`)
	bumped := json.RawMessage(strings.Replace(string(old), `"v1"`, `"v2"`, 1))
	_, resp := post(t, e.handler, reviewBody(t, "UPDATE", bumped, old))
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "already present before this update") {
		t.Fatalf("image bump of a pre-existing violation must be allowed with a warning, got %+v", resp)
	}
	// The same as a CREATE is denied.
	_, resp = post(t, e.handler, reviewBody(t, "CREATE", bumped, nil))
	if resp.Allowed {
		t.Fatal("CREATE must be denied")
	}
	// An UPDATE that adds a second violation is denied for the new one only.
	worse := json.RawMessage(strings.Replace(string(bumped), `"volumes":[`, `"initContainers":[{"name":"i","image":"x","volumeMounts":[{"name":"d","mountPath":"/d"}]}],"volumes":[`, 1))
	_, resp = post(t, e.handler, reviewBody(t, "UPDATE", worse, old))
	if resp.Allowed || len(resp.Result.Details.Causes) != 1 || resp.Result.Details.Causes[0].Field != "spec.template.spec.initContainers[0].volumeMounts[0]" {
		t.Fatalf("want one denial for the init container, got %+v", resp.Result)
	}
}

func TestMalformedReviews(t *testing.T) {
	huge := append([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":{"metadata":{"name":"`),
		bytes.Repeat([]byte("a"), DefaultMaxRequestBytes)...)
	huge = append(huge, []byte(`"}}}}`)...)
	const uid = `"uid":"u-1"`
	cases := map[string]struct {
		body        string
		contentType string
		wantCode    int    // HTTP status when the review cannot be answered
		wantDenied  string // substring of the denial message when it can
		wantAllowed bool
	}{
		"not json":           {body: `{"apiVersion":`, wantCode: 400},
		"empty body":         {body: ``, wantCode: 400},
		"wrong content type": {body: `{}`, contentType: "text/plain", wantCode: 415},
		"v1beta1 review":     {body: `{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{` + uid + `}}`, wantCode: 400},
		"no request":         {body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, wantCode: 400},
		"no uid":             {body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}`, wantCode: 400},
		"oversized":          {body: string(huge), wantCode: 413},
		"object is not a DaemonSet shape": {
			body:       `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{` + uid + `,"kind":{"group":"apps","version":"v1","kind":"DaemonSet"},"operation":"CREATE","object":{"spec":{"template":{"spec":{"hostPID":"yes"}}}}}}`,
			wantDenied: "decoding AdmissionReview",
		},
		"containers is an object": {
			body:       `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{` + uid + `,"kind":{"group":"apps","version":"v1","kind":"DaemonSet"},"operation":"CREATE","object":{"spec":{"template":{"spec":{"containers":{}}}}}}}`,
			wantDenied: "decoding AdmissionReview",
		},
		"empty object": {
			body:       `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{` + uid + `,"kind":{"group":"apps","version":"v1","kind":"DaemonSet"},"operation":"CREATE"}}`,
			wantDenied: "no object",
		},
		"null object": {
			body:       `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{` + uid + `,"kind":{"group":"apps","version":"v1","kind":"DaemonSet"},"operation":"CREATE","object":null}}`,
			wantDenied: "no object",
		},
		"update without oldObject": {
			body:       `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{` + uid + `,"kind":{"group":"apps","version":"v1","kind":"DaemonSet"},"operation":"UPDATE","object":{}}}`,
			wantDenied: "no oldObject",
		},
		"other DaemonSet version": {
			body:       `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{` + uid + `,"kind":{"group":"apps","version":"v1beta2","kind":"DaemonSet"},"operation":"CREATE","object":{}}}`,
			wantDenied: "cannot read v1beta2",
		},
		"wrong kind is let through": {
			body:        `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{` + uid + `,"kind":{"group":"","version":"v1","kind":"Pod"},"operation":"CREATE","object":{"spec":{"hostPID":true}}}}`,
			wantAllowed: true,
		},
		"status subresource is let through": {
			body:        `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{` + uid + `,"kind":{"group":"apps","version":"v1","kind":"DaemonSet"},"subResource":"status","operation":"UPDATE","object":{},"oldObject":{}}}`,
			wantAllowed: true,
		},
		"delete is let through": {
			body:        `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{` + uid + `,"kind":{"group":"apps","version":"v1","kind":"DaemonSet"},"operation":"DELETE","oldObject":{}}}`,
			wantAllowed: true,
		},
	}
	for name, tc := range cases {
		for _, mutating := range []bool{true, false} {
			t.Run(name+map[bool]string{true: "/mutate", false: "/validate"}[mutating], func(t *testing.T) {
				e := newEndpoint(t, mutating)
				r := httptest.NewRequest(http.MethodPost, "/x", strings.NewReader(tc.body))
				ct := tc.contentType
				if ct == "" {
					ct = "application/json"
				}
				r.Header.Set("Content-Type", ct)
				w := httptest.NewRecorder()
				e.handler.ServeHTTP(w, r)
				if tc.wantCode != 0 {
					if w.Code != tc.wantCode {
						t.Fatalf("HTTP %d, want %d: %s", w.Code, tc.wantCode, w.Body.String())
					}
					return
				}
				if w.Code != 200 {
					t.Fatalf("HTTP %d: %s", w.Code, w.Body.String())
				}
				var review admissionv1.AdmissionReview
				if err := json.Unmarshal(w.Body.Bytes(), &review); err != nil {
					t.Fatal(err)
				}
				resp := review.Response
				if resp.UID != "u-1" {
					t.Fatalf("uid %q", resp.UID)
				}
				if tc.wantAllowed {
					if !resp.Allowed || resp.Patch != nil {
						t.Fatalf("want allowed without patch, got %+v", resp)
					}
					return
				}
				if resp.Allowed {
					t.Fatal("an unreadable review must never be allowed")
				}
				if resp.Result == nil || resp.Result.Code != 400 || !strings.Contains(resp.Result.Message, tc.wantDenied) {
					t.Fatalf("want a 400 denial containing %q, got %+v", tc.wantDenied, resp.Result)
				}
			})
		}
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEndpoint(t, false)
	w := httptest.NewRecorder()
	e.handler.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/x", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", w.Code)
	}
}

// A rule that panics must deny, not crash the server or admit.
func TestPanicDenies(t *testing.T) {
	var p *policy.Policy // nil: every method call panics
	h := NewValidatingHandler(func() *policy.Policy { return p }, nil, logr.Discard())
	_, resp := post(t, h, reviewBody(t, "CREATE", fixture(t, "fluentbit.yaml"), nil))
	if resp.Allowed || resp.Result.Code != 500 || !strings.Contains(resp.Result.Message, "failed to review") {
		t.Fatalf("want a 500 denial, got %+v", resp)
	}
}

// counter returns the value of the counter name with exactly these labels.
func counter(t testing.TB, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.Metric {
			if len(m.Label) != len(labels) {
				continue
			}
			for _, l := range m.Label {
				if labels[l.GetName()] != l.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no %s%v", name, labels)
	return 0
}
