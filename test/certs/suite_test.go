// Package certs_test drives daemonguard's certificate modes through a real
// kube-apiserver and etcd: cert-manager mode with cert-manager's own CA
// injector running in-process, and self-managed mode from an empty
// namespace, through forced rotations under load, to a restart. Run it with
// `make integration` (or `make test`).
package certs_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"github.com/prometheus/client_golang/prometheus"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/poll"
	"github.com/daemonguard/daemonguard/webhook"
)

// The names the shipped manifests use; the tests install those manifests'
// objects as they are, so they share these and run one at a time.
const (
	webhookNamespace = "daemonguard"
	serviceAccount   = "daemonguard"
	configName       = "daemonguard"
	tlsSecret        = "daemonguard-tls"
)

var (
	scheme  = runtime.NewScheme()
	restCfg *rest.Config
	k8s     client.Client
	root    string
	logPath string
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "test/certs: KUBEBUILDER_ASSETS is not set; run `make integration`, which builds kube-apiserver and etcd from the Go module proxy (or: hack/tools.sh ensure && export KUBEBUILDER_ASSETS=$(hack/tools.sh path))")
		return 1
	}
	var err error
	if root, err = controlplane.RepoRoot(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	crds, err := certManagerCRDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logFile, err := os.Create(filepath.Join(os.TempDir(), "daemonguard-certs-test.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer logFile.Close()
	logPath = logFile.Name()
	ctrl.SetLogger(zap.New(zap.WriteTo(logFile), zap.UseDevMode(true)))
	// net/http's own log: the handshakes refused before a certificate is
	// loaded (readiness probes, the API server's first tries).
	log.SetOutput(logFile)
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, cmapi.AddToScheme} {
		if err := add(scheme); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	start := time.Now()
	env := &envtest.Environment{Scheme: scheme, CRDDirectoryPaths: []string{crds}, ErrorIfCRDPathMissing: true}
	if restCfg, err = env.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "test/certs: starting kube-apiserver and etcd: %v\n", err)
		return 1
	}
	defer env.Stop()
	if k8s, err = client.New(restCfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: webhookNamespace}}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("test/certs: control plane with cert-manager's CRDs (%s) up in %s; logs in %s\n", crds, time.Since(start).Round(time.Millisecond), logPath)
	return m.Run()
}

// certManagerCRDs is the CRD directory cert-manager ships in its module, at
// the version go.mod requires.
func certManagerCRDs() (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating the cert-manager module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "deploy", "crds")
	if _, err := os.Stat(filepath.Join(dir, "cert-manager.io_certificates.yaml")); err != nil {
		return "", fmt.Errorf("cert-manager CRDs: %w", err)
	}
	return dir, nil
}

// manifest holds the objects of a shipped manifest the tests install.
type manifest struct {
	mutating   *admissionregistrationv1.MutatingWebhookConfiguration
	validating *admissionregistrationv1.ValidatingWebhookConfiguration
	// rbac, cert-manager objects and PriorityClasses, in file order.
	objects []client.Object
}

// loadManifest strictly decodes deploy/manifests/<name>. The webhook
// configurations' clientConfig is pointed at url (keeping each path): the
// control plane has no Services to route through.
func loadManifest(t testing.TB, name, url string) manifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "deploy", "manifests", name))
	if err != nil {
		t.Fatalf("%v (deploy/manifests is rendered from the chart)", err)
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	var m manifest
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s document %d: %v", name, i, err)
		}
		if meta.Kind == "" {
			continue // comments only
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if runtime.IsNotRegisteredError(err) {
			continue // e.g. a ServiceMonitor
		}
		if err != nil {
			t.Fatalf("%s document %d: %v", name, i, err)
		}
		switch o := obj.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			for i := range o.Webhooks {
				controlplane.PointAt(&o.Webhooks[i].ClientConfig, url)
			}
			m.mutating = o
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			for i := range o.Webhooks {
				controlplane.PointAt(&o.Webhooks[i].ClientConfig, url)
			}
			m.validating = o
		case *cmapi.Certificate, *cmapi.Issuer, *cmapi.ClusterIssuer,
			*rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding, *rbacv1.Role, *rbacv1.RoleBinding,
			*schedulingv1.PriorityClass:
			m.objects = append(m.objects, o.(client.Object))
		}
	}
	if m.mutating == nil || m.validating == nil {
		t.Fatalf("%s: no MutatingWebhookConfiguration and ValidatingWebhookConfiguration", name)
	}
	if m.mutating.Name != configName || m.validating.Name != configName {
		t.Fatalf("%s: webhook configurations named %q and %q, the tests expect %q", name, m.mutating.Name, m.validating.Name, configName)
	}
	return m
}

// create creates objs and deletes them when the test ends (a PriorityClass
// is shared and kept).
func create(t testing.TB, objs ...client.Object) {
	t.Helper()
	ctx := context.Background()
	for _, obj := range objs {
		obj.SetResourceVersion("")
		err := k8s.Create(ctx, obj)
		if _, shared := obj.(*schedulingv1.PriorityClass); shared {
			if err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatalf("creating PriorityClass %s: %v", obj.GetName(), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
		}
		t.Cleanup(func() {
			if err := k8s.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("deleting %T %s: %v", obj, obj.GetName(), err)
			}
		})
	}
}

func createNamespace(t testing.TB, name string) {
	t.Helper()
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

func metaName(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name}
}

// deleteAtEnd deletes an object the webhook created, when the test ends.
func deleteAtEnd(t testing.TB, obj client.Object) {
	t.Cleanup(func() {
		if err := k8s.Delete(context.Background(), obj); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting %T %s: %v", obj, obj.GetName(), err)
		}
	})
}

// asServiceAccount is cfg acting as the chart's ServiceAccount, so the
// webhook runs with exactly the RBAC the manifest grants it.
func asServiceAccount(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + webhookNamespace + ":" + serviceAccount,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + webhookNamespace, "system:authenticated"},
	}
	return c
}

// replica is one webhook process (webhook.Run) in this test process.
type replica struct {
	name         string
	port, health int
	certDir      string
	registry     *prometheus.Registry
	stop         context.CancelFunc
	done         chan error
	stopOnce     sync.Once
}

// startReplica runs the webhook with opts, on its own ports and metrics
// registry, until the test ends or Stop.
func startReplica(t testing.TB, name string, cfg *rest.Config, opts webhook.Options) *replica {
	t.Helper()
	r := &replica{name: name, port: controlplane.MustFreePort(t), health: controlplane.MustFreePort(t), certDir: opts.CertDir, registry: prometheus.NewRegistry(), done: make(chan error, 1)}
	if r.certDir == "" {
		r.certDir = t.TempDir()
	}
	opts.Host, opts.Port, opts.CertDir = "127.0.0.1", r.port, r.certDir
	opts.CertName, opts.KeyName = "tls.crt", "tls.key"
	opts.Namespace = webhookNamespace
	opts.PolicyPollInterval = time.Second
	opts.MetricsAddr, opts.HealthAddr = "0", fmt.Sprintf("127.0.0.1:%d", r.health)
	opts.MetricsRegistry = r.registry
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() { r.done <- webhook.Run(ctx, cfg, opts) }()
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// Stop stops the replica and waits for it to return.
func (r *replica) Stop(t testing.TB) {
	r.stopOnce.Do(func() {
		r.stop()
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("replica %s: %v", r.name, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("replica %s did not stop", r.name)
		}
	})
}

// ready asks the replica's /readyz.
func (r *replica) ready() error {
	select {
	case err := <-r.done:
		r.done <- err
		return fmt.Errorf("replica %s stopped: %v", r.name, err)
	default:
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz?verbose=1", r.health))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz %d: %s", resp.StatusCode, body)
	}
	return nil
}

// served is the certificate the replica presents to a TLS client.
func (r *replica) served() (*x509.Certificate, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", r.port), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// metric sums a metric family from the replica's registry.
func (r *replica) metric(t testing.TB, name string) float64 {
	t.Helper()
	families, err := r.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

// eventually retries f until it succeeds or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	poll.Until(t, timeout, what+" (logs: "+logPath+")", poll.Err(f))
}

// dryRunCreate sends a DaemonSet create through the API server, which calls
// both webhooks (failurePolicy Fail); it fails unless daemonguard mutated it.
func dryRunCreate(ctx context.Context, namespace string) error {
	ds := controlplane.Probe(namespace)
	ds.Name = "probe"
	if err := k8s.Create(ctx, ds, client.DryRunAll); err != nil {
		return err
	}
	if ds.Annotations[policy.InjectedAnnotation] == "" {
		return errors.New("admitted but not mutated by daemonguard")
	}
	return nil
}

// caBundles returns the caBundle of every webhook in both configurations.
func caBundles(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	m := &admissionregistrationv1.MutatingWebhookConfiguration{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: configName}, m); err != nil {
		return nil, err
	}
	for _, w := range m.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := k8s.Get(ctx, client.ObjectKey{Name: configName}, v); err != nil {
		return nil, err
	}
	for _, w := range v.Webhooks {
		out = append(out, w.ClientConfig.CABundle)
	}
	return out, nil
}

// allCABundles checks every webhook carries want.
func allCABundles(ctx context.Context, want []byte) error {
	got, err := caBundles(ctx)
	if err != nil {
		return err
	}
	for i, b := range got {
		if !bytes.Equal(b, want) {
			return fmt.Errorf("webhook %d has a caBundle of %d bytes, not the expected %d", i, len(b), len(want))
		}
	}
	return nil
}

// newBalancer spreads connections over the replicas' ports, as the
// webhook Service does, TLS passing through; it stops with the test.
func newBalancer(t testing.TB, ports ...int) *controlplane.Balancer {
	t.Helper()
	b, err := controlplane.NewBalancer()
	if err != nil {
		t.Fatal(err)
	}
	b.Set(ports...)
	t.Cleanup(func() { b.Close() })
	return b
}
