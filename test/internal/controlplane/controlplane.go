// Package controlplane starts what the integration suite, `make demo` and
// `make dev-up` share: a real kube-apiserver and etcd (controller-runtime's
// envtest, with binaries built from the Go module proxy by hack/tools.sh),
// daemonguard's webhook server over TLS, and the project's own webhook
// configurations from deploy/manifests, with only their client config pointed
// at the local server.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/test/internal/manifests"
	"github.com/daemonguard/daemonguard/webhook"
)

// Manifest is the file, relative to the repository root, whose webhook
// configurations and PriorityClass are installed.
const Manifest = "deploy/manifests/daemonguard.yaml"

// WebhookNamespace is the namespace the shipped manifests install into; it is
// exempt from both webhooks.
const WebhookNamespace = "daemonguard"

// Options configure Start.
type Options struct {
	// PolicyFile is the policy file the webhook serves and reloads; empty
	// means the built-in defaults.
	PolicyFile string
	// PolicyPollInterval is how often the webhook rereads PolicyFile.
	PolicyPollInterval time.Duration
	// Log receives the webhook's and envtest's logs; nil discards them.
	Log io.Writer

	// NoWebhook starts only kube-apiserver and etcd (with the shipped
	// PriorityClasses): no webhook server, no webhook configurations.
	NoWebhook bool
	// ServiceAccountAdmission turns the ServiceAccount admission plugin back
	// on (envtest disables it): pods then need their ServiceAccount to exist,
	// as in a real cluster, and something (kube-controller-manager) must
	// create each namespace's default account.
	ServiceAccountAdmission bool
	// EtcdDataDir is where etcd keeps its data; empty means a temporary
	// directory envtest creates and removes. The caller owns a directory it
	// names here.
	EtcdDataDir string
	// ProcessLog receives kube-apiserver's and etcd's own output; nil keeps
	// envtest's default (this process's stdout and stderr).
	ProcessLog io.Writer
	// CRDPaths are CRD files or directories installed before the webhook
	// starts (OpenReportsCRD for the Reporter).
	CRDPaths []string
	// Reports configures the webhook's OpenReports Reporter.
	Reports webhook.ReportsOptions
	// ValidatingCheckInterval is how often the webhook verifies the
	// validating configuration's matchConditions (a minute when zero, as
	// serve does).
	ValidatingCheckInterval time.Duration
}

// Env is a running control plane with daemonguard registered.
type Env struct {
	Config *rest.Config
	Client client.Client
	// Metrics gathers the in-process webhook's own metrics.
	Metrics prometheus.Gatherer
	env     *envtest.Environment
	stop    context.CancelFunc
	served  chan error
}

// RepoRoot finds the repository root from the working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the daemonguard repository (no go.mod above the working directory)")
		}
		dir = parent
	}
}

// Start brings everything up and returns once a DaemonSet dry-run create is
// mutated end to end through the API server (with NoWebhook: once
// kube-apiserver answers and the shipped PriorityClasses exist).
func Start(ctx context.Context, opts Options) (*Env, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run through make (it builds kube-apiserver and etcd with hack/tools.sh) or export KUBEBUILDER_ASSETS=$(hack/tools.sh path)")
	}
	logOut := opts.Log
	if logOut == nil {
		logOut = io.Discard
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(logOut), zap.UseDevMode(false)))
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	manifest, err := os.ReadFile(filepath.Join(root, Manifest))
	if err != nil {
		return nil, err
	}
	objs, err := shippedObjects(manifest)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Manifest, err)
	}
	e := &Env{env: &envtest.Environment{
		ErrorIfCRDPathMissing: len(opts.CRDPaths) > 0,
		CRDDirectoryPaths:     opts.CRDPaths,
	}}
	if !opts.NoWebhook {
		if err := e.withWebhook(objs); err != nil {
			return nil, err
		}
	}
	if opts.EtcdDataDir != "" || opts.ProcessLog != nil {
		e.env.ControlPlane.Etcd = &envtest.Etcd{DataDir: opts.EtcdDataDir, Out: opts.ProcessLog, Err: opts.ProcessLog}
	}
	apiServer := e.env.ControlPlane.GetAPIServer()
	if opts.ProcessLog != nil {
		apiServer.Out, apiServer.Err = opts.ProcessLog, opts.ProcessLog
	}
	if opts.ServiceAccountAdmission {
		// envtest's default is --disable-admission-plugins=ServiceAccount;
		// without the flag kube-apiserver runs its default plugin set.
		apiServer.Configure().Disable("disable-admission-plugins")
	}
	e.Config, err = e.env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = e.Stop()
		}
	}()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if e.Client, err = client.New(e.Config, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	for _, pc := range objs.priorityClasses {
		if err := e.Client.Create(ctx, pc); err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("creating PriorityClass %s: %w", pc.Name, err)
		}
	}
	if !opts.NoWebhook {
		if err := e.serveWebhook(ctx, opts); err != nil {
			return nil, err
		}
	}
	ok = true
	return e, nil
}

// withWebhook points the shipped webhook configurations at a free local port
// and has envtest install them with a serving certificate.
func (e *Env) withWebhook(objs *shipped) error {
	port, err := FreePort()
	if err != nil {
		return err
	}
	for _, hook := range objs.mutating {
		for i := range hook.Webhooks {
			PointAt(&hook.Webhooks[i].ClientConfig, fmt.Sprintf("https://127.0.0.1:%d", port))
		}
	}
	for _, hook := range objs.validating {
		for i := range hook.Webhooks {
			PointAt(&hook.Webhooks[i].ClientConfig, fmt.Sprintf("https://127.0.0.1:%d", port))
		}
	}
	e.env.WebhookInstallOptions = envtest.WebhookInstallOptions{
		LocalServingHost:   "127.0.0.1",
		LocalServingPort:   port,
		MutatingWebhooks:   objs.mutating,
		ValidatingWebhooks: objs.validating,
	}
	return nil
}

// serveWebhook runs daemonguard's webhook server in this process and waits
// until the API server mutates a DaemonSet through it.
func (e *Env) serveWebhook(ctx context.Context, opts Options) error {
	if err := e.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: WebhookNamespace}}); err != nil {
		return err
	}
	serveCtx, cancel := context.WithCancel(context.Background())
	e.stop, e.served = cancel, make(chan error, 1)
	wo := &e.env.WebhookInstallOptions
	// A registry of its own: a process may run one Env after another (the
	// demo), and the global one takes each metric once.
	registry := prometheus.NewRegistry()
	e.Metrics = registry
	go func() {
		e.served <- webhook.Run(serveCtx, e.Config, webhook.Options{
			Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir,
			CertName: "tls.crt", KeyName: "tls.key",
			PolicyFile: opts.PolicyFile, PolicyPollInterval: opts.PolicyPollInterval,
			Namespace: WebhookNamespace, MetricsAddr: "0", HealthAddr: "0",
			Reports: opts.Reports, NodeChecks: true,
			// As the chart runs it: the webhook writes the mutating
			// webhook's matchConditions from the policy it loads.
			MutatingConfiguration: wo.MutatingWebhooks[0].Name,
			// And, as serve does by default, it verifies the validating
			// webhook's.
			ValidatingConfiguration: wo.ValidatingWebhooks[0].Name,
			ValidatingCheckInterval: opts.ValidatingCheckInterval,
			MetricsRegistry:         registry,
			// As serve does by default: an Event on the owner of a denied
			// DaemonSet, at serve's default interval.
			OwnerEvents: webhook.OwnerEventsOptions{Enabled: true, Instance: "controlplane"},
		})
	}()
	return e.waitMutating(ctx)
}

// waitMutating dry-run creates a DaemonSet until the API server returns it
// mutated by daemonguard.
func (e *Env) waitMutating(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	for {
		ds := Probe("default")
		err := e.Client.Create(ctx, ds, client.DryRunAll)
		if err == nil && ds.Spec.Template.Spec.PriorityClassName != "" {
			// And the webhook has written its mutating matchCondition, as
			// it does under the chart: until then every DaemonSet is sent.
			written, err := e.mutatingConditionWritten(ctx)
			if written {
				return nil
			}
			last = err
		} else {
			last = err
		}
		select {
		case err := <-e.served:
			return fmt.Errorf("webhook server stopped: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("daemonguard did not start mutating DaemonSets within a minute (last error: %v)", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// mutatingConditionWritten reports whether the shipped mutating webhook
// carries the matchCondition the webhook writes.
func (e *Env) mutatingConditionWritten(ctx context.Context) (bool, error) {
	for _, hook := range e.env.WebhookInstallOptions.MutatingWebhooks {
		cfg := &admissionregv1.MutatingWebhookConfiguration{}
		if err := e.Client.Get(ctx, client.ObjectKey{Name: hook.Name}, cfg); err != nil {
			return false, err
		}
		for _, w := range cfg.Webhooks {
			if !slices.ContainsFunc(w.MatchConditions, func(c admissionregv1.MatchCondition) bool { return c.Name == precondition.MutatorMayAct }) {
				return false, fmt.Errorf("webhook %s has no matchCondition %s yet", w.Name, precondition.MutatorMayAct)
			}
		}
	}
	return true, nil
}

// Probe is a minimal DaemonSet in namespace that every policy allows and
// the default policy mutates.
func Probe(namespace string) *appsv1.DaemonSet {
	labels := map[string]string{"app": "probe"}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "daemonguard-probe", Namespace: namespace},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "registry.k8s.io/pause:3.10"}}},
			},
		},
	}
}

// Kubeconfig returns an admin kubeconfig for the control plane.
func (e *Env) Kubeconfig() ([]byte, error) {
	user, err := e.env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	return user.KubeConfig()
}

// Stop stops the webhook, then the API server and etcd.
func (e *Env) Stop() error {
	if e.stop != nil {
		e.stop()
		select {
		case <-e.served:
		case <-time.After(10 * time.Second):
		}
	}
	return e.env.Stop()
}

type shipped struct {
	mutating        []*admissionregv1.MutatingWebhookConfiguration
	validating      []*admissionregv1.ValidatingWebhookConfiguration
	priorityClasses []*schedulingv1.PriorityClass
}

// WebhookConfigurations are the mutating and validating webhook
// configurations of the shipped manifest, as written (client config
// included: point them with PointAt).
func WebhookConfigurations() (*admissionregv1.MutatingWebhookConfiguration, *admissionregv1.ValidatingWebhookConfiguration, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, nil, err
	}
	manifest, err := os.ReadFile(filepath.Join(root, Manifest))
	if err != nil {
		return nil, nil, err
	}
	objs, err := shippedObjects(manifest)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", Manifest, err)
	}
	return objs.mutating[0], objs.validating[0], nil
}

// shippedObjects reads the webhook configurations and PriorityClasses from a
// multi-document manifest, strictly.
func shippedObjects(manifest []byte) (*shipped, error) {
	var out shipped
	docs, err := manifests.Documents(manifest)
	if err != nil {
		return nil, err
	}
	for _, doc := range docs {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, err
		}
		var obj any
		switch meta.Kind {
		case "MutatingWebhookConfiguration":
			h := &admissionregv1.MutatingWebhookConfiguration{}
			out.mutating, obj = append(out.mutating, h), h
		case "ValidatingWebhookConfiguration":
			h := &admissionregv1.ValidatingWebhookConfiguration{}
			out.validating, obj = append(out.validating, h), h
		case "PriorityClass":
			pc := &schedulingv1.PriorityClass{}
			out.priorityClasses, obj = append(out.priorityClasses, pc), pc
		default:
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, fmt.Errorf("%s: %w", meta.Kind, err)
		}
	}
	if len(out.mutating) != 1 || len(out.validating) != 1 {
		return nil, fmt.Errorf("want one mutating and one validating webhook configuration, found %d and %d", len(out.mutating), len(out.validating))
	}
	return &out, nil
}

// PointAt replaces a webhook's Service reference with baseURL, keeping the
// path: the shipped configuration with only its client config changed.
func PointAt(cc *admissionregv1.WebhookClientConfig, baseURL string) {
	path := ""
	if cc.Service != nil && cc.Service.Path != nil {
		path = *cc.Service.Path
	}
	url := baseURL + path
	cc.URL, cc.Service = &url, nil
}

// FreePort is a loopback TCP port nothing listens on now.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// MustFreePort is FreePort for tests: it fails tb instead of returning an error.
func MustFreePort(tb testing.TB) int {
	tb.Helper()
	port, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	return port
}

// WebhookAddress is the webhook server's host:port, and the CA (PEM) that
// signed its serving certificate.
func (e *Env) WebhookAddress() (string, []byte) {
	wo := &e.env.WebhookInstallOptions
	return net.JoinHostPort(wo.LocalServingHost, strconv.Itoa(wo.LocalServingPort)), wo.LocalServingCAData
}

// Reviews counts the admission reviews each webhook of the in-process
// server has answered: how many calls the API server made.
func (e *Env) Reviews() (mutate, validate float64, err error) {
	families, err := e.Metrics.Gather()
	if err != nil {
		return 0, 0, err
	}
	for _, f := range families {
		if f.GetName() != "daemonguard_admission_reviews_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() != "webhook" {
					continue
				}
				switch l.GetValue() {
				case "mutate":
					mutate += m.GetCounter().GetValue()
				case "validate":
					validate += m.GetCounter().GetValue()
				}
			}
		}
	}
	return mutate, validate, nil
}

// Counter sums the in-process webhook's counter called name over the series
// whose labels include labels.
func (e *Env) Counter(name string, labels map[string]string) (float64, error) {
	families, err := e.Metrics.Gather()
	if err != nil {
		return 0, err
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			for k, v := range labels {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == k && l.GetValue() == v {
						found = true
					}
				}
				if !found {
					continue series
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum, nil
}

// Gauge is the value of the in-process webhook's gauge called name, and
// whether it has one.
func (e *Env) Gauge(name string) (float64, bool, error) {
	families, err := e.Metrics.Gather()
	if err != nil {
		return 0, false, err
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) > 0 {
			return f.GetMetric()[0].GetGauge().GetValue(), true, nil
		}
	}
	return 0, false, nil
}
