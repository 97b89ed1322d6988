package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/defaults"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/webhook"
)

// The benchmarked requests: the seed's node-exporter, created in monitoring.
const (
	seedFile  = "deploy/examples/node-exporter.yaml"
	namespace = "monitoring"
)

// repoRoot finds the module root from this file's location, so the tests
// run from any working directory.
func repoRoot(tb testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("cannot locate the bench package")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// seedDaemonSet reads the seed and fills in what the API server has filled
// in by the time it calls a webhook: the apps/v1 and core/v1 defaults and,
// after the object was persisted-to-be, its system metadata. The webhooks
// see this larger object, not the author's YAML, so both sides decode (or
// skip) what they would in a cluster.
func seedDaemonSet(tb testing.TB) *appsv1.DaemonSet {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(tb), seedFile))
	if err != nil {
		tb.Fatal(err)
	}
	ds := &appsv1.DaemonSet{}
	if err := yaml.UnmarshalStrict(data, ds); err != nil {
		tb.Fatalf("%s: %v", seedFile, err)
	}
	applyAPIServerDefaults(ds)
	return ds
}

// applyAPIServerDefaults sets the defaults kube-apiserver applies to an
// apps/v1 DaemonSet (internal/defaults, compared with the real API server in
// test/integration) and the system fields set on CREATE.
func applyAPIServerDefaults(ds *appsv1.DaemonSet) {
	ds.Namespace = namespace
	ds.UID = "6f1d2c9e-6a0b-4a55-9a57-0c4f3d2e8b71"
	ds.Generation = 1
	ds.CreationTimestamp = metav1.NewTime(time.Date(2025, 6, 1, 9, 30, 0, 0, time.UTC))
	defaults.DaemonSet(ds)
}

// reviewBody marshals a CREATE review of ds as kube-apiserver sends it.
func reviewBody(tb testing.TB, ds *appsv1.DaemonSet) []byte {
	tb.Helper()
	return updateBody(tb, nil, ds)
}

// updateBody is the review of an UPDATE from old to ds (a CREATE of ds
// when old is nil).
func updateBody(tb testing.TB, old, ds *appsv1.DaemonSet) []byte {
	tb.Helper()
	object, op, oldObject := wireObject(tb, ds), admissionv1.Create, kruntime.RawExtension{}
	if old != nil {
		op, oldObject.Raw = admissionv1.Update, wireObject(tb, old)
	}
	options, err := json.Marshal(&metav1.CreateOptions{
		TypeMeta:     metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "CreateOptions"},
		FieldManager: "kubectl-client-side-apply",
	})
	if err != nil {
		tb.Fatal(err)
	}
	resource := metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}
	kind := metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "DaemonSet"}
	body, err := json.Marshal(&admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             "705ab4f5-6393-11e8-b7cc-42010a800002",
			Kind:            kind,
			Resource:        resource,
			RequestKind:     &kind,
			RequestResource: &resource,
			Name:            ds.Name,
			Namespace:       namespace,
			Operation:       op,
			UserInfo:        authenticationv1.UserInfo{Username: "kubernetes-admin", Groups: []string{"kubeadm:cluster-admins", "system:authenticated"}},
			Object:          kruntime.RawExtension{Raw: object},
			OldObject:       oldObject,
			DryRun:          ptr.To(false),
			Options:         kruntime.RawExtension{Raw: options},
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// wireObject is ds as the API server sends it: in the version the webhook
// asked for, with its TypeMeta set.
func wireObject(tb testing.TB, ds *appsv1.DaemonSet) []byte {
	tb.Helper()
	ds = ds.DeepCopy()
	ds.APIVersion, ds.Kind = "apps/v1", "DaemonSet"
	object, err := json.Marshal(ds)
	if err != nil {
		tb.Fatal(err)
	}
	return object
}

// discardSink is a logr sink that is never enabled: both sides log through
// it, so neither pays for output, and both pay for what they build per
// request (controller-runtime's per-request WithValues).
type discardSink struct{}

func (discardSink) Init(logr.RuntimeInfo)            {}
func (discardSink) Enabled(int) bool                 { return false }
func (discardSink) Info(int, string, ...any)         {}
func (discardSink) Error(error, string, ...any)      {}
func (s discardSink) WithValues(...any) logr.LogSink { return s }
func (s discardSink) WithName(string) logr.LogSink   { return s }

var discard = logr.New(discardSink{})

// compiledPolicy is the default policy, as `serve` compiles it without a
// policy file; the PriorityClass lookup is offline (assumed to exist) on
// both sides.
func compiledPolicy(tb testing.TB) *policy.Policy {
	tb.Helper()
	p, err := policy.New(config.Defaults(), policy.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// daemonguardHandlers are the two endpoints exactly as `serve` builds them.
func daemonguardHandlers(tb testing.TB, p *policy.Policy) (mutate, validate http.Handler) {
	tb.Helper()
	m, err := webhook.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		tb.Fatal(err)
	}
	current := func() *policy.Policy { return p }
	return webhook.NewMutatingHandler(current, m, discard), webhook.NewValidatingHandler(current, m, discard)
}

// genericDefaulter is the kubebuilder-style typed defaulter running
// daemonguard's mutators.
type genericDefaulter struct{ policy *policy.Policy }

func (d genericDefaulter) Default(ctx context.Context, ds *appsv1.DaemonSet) error {
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return err
	}
	d.policy.Mutate(ctx, req.Namespace, ds)
	return nil
}

// genericValidator is the kubebuilder-style typed validator running
// daemonguard's rules, denying with the same 422 Invalid status.
type genericValidator struct{ policy *policy.Policy }

func (v genericValidator) ValidateCreate(ctx context.Context, ds *appsv1.DaemonSet) (admission.Warnings, error) {
	return v.validate(ctx, nil, ds)
}

func (v genericValidator) ValidateUpdate(ctx context.Context, old, ds *appsv1.DaemonSet) (admission.Warnings, error) {
	return v.validate(ctx, old, ds)
}

func (genericValidator) ValidateDelete(context.Context, *appsv1.DaemonSet) (admission.Warnings, error) {
	return nil, nil
}

func (v genericValidator) validate(ctx context.Context, old, ds *appsv1.DaemonSet) (admission.Warnings, error) {
	req, err := admission.RequestFromContext(ctx)
	if err != nil {
		return nil, err
	}
	verdict := v.policy.Validate(ctx, req.Namespace, old, ds)
	warnings := verdict.Warnings()
	if !verdict.Allowed() {
		return warnings, verdict.Status(req.Namespace, ds)
	}
	return warnings, nil
}

// genericHandlers are controller-runtime's typed webhooks as
// builder.WebhookManagedBy(mgr, &appsv1.DaemonSet{}).WithDefaulter(...).
// WithValidator(...) builds them: client-go's scheme, the builder's log
// constructor. The webhook server would additionally wrap each in its
// request metrics (metrics.InstrumentedHook); daemonguard's handlers get the
// same wrapping from the same server, so neither side has it here.
func genericHandlers(tb testing.TB, p *policy.Policy) (mutate, validate http.Handler) {
	tb.Helper()
	scheme := kruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		tb.Fatal(err)
	}
	gvk := appsv1.SchemeGroupVersion.WithKind("DaemonSet")
	wrap := func(hook *admission.Webhook) http.Handler {
		hook.LogConstructor = builderLogConstructor(gvk)
		h, err := admission.StandaloneWebhook(hook, admission.StandaloneOptions{Logger: discard})
		if err != nil {
			tb.Fatal(err)
		}
		return h
	}
	return wrap(admission.WithDefaulter[*appsv1.DaemonSet](scheme, genericDefaulter{p})),
		wrap(admission.WithValidator[*appsv1.DaemonSet](scheme, genericValidator{p}))
}

// builderLogConstructor is controller-runtime's builder default
// (pkg/builder/webhook.go setLogConstructor).
func builderLogConstructor(gvk schema.GroupVersionKind) func(logr.Logger, *admission.Request) logr.Logger {
	return func(base logr.Logger, req *admission.Request) logr.Logger {
		log := base.WithValues("webhookGroup", gvk.Group, "webhookKind", gvk.Kind)
		if req != nil {
			return log.WithValues(
				gvk.Kind, klog.KRef(req.Namespace, req.Name),
				"namespace", req.Namespace, "name", req.Name,
				"resource", req.Resource, "user", req.UserInfo.Username,
				"requestID", req.UID,
			)
		}
		return log
	}
}

// poster replays one review body against a handler. The *http.Request is
// built once and its body rewound for each call, so the request plumbing the
// HTTP server does before a handler runs is not counted; the response goes to
// a fresh httptest.ResponseRecorder each time.
type poster struct {
	body []byte
	rd   *bytes.Reader
	req  *http.Request
}

func newPoster(path string, body []byte) *poster {
	p := &poster{body: body, rd: bytes.NewReader(body)}
	p.req = httptest.NewRequest(http.MethodPost, path, p.rd)
	p.req.Header.Set("Content-Type", "application/json")
	return p
}

func (p *poster) serve(h http.Handler) *httptest.ResponseRecorder {
	p.rd.Reset(p.body)
	p.req.Body = io.NopCloser(p.rd)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, p.req)
	return w
}
