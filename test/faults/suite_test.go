// Package faults drives `daemonguard serve`, built once and run as real child
// processes, through a real kube-apiserver and etcd while things go wrong:
// rolling restarts and SIGKILL under load behind a balancer that behaves like
// a Service's endpoints, hostile clients on the webhook port, a policy file
// that turns to garbage or flips, and metrics that must refuse strangers.
//
// `make test` runs the short versions (seconds each). `make soak` sets
// DAEMONGUARD_SOAK=1: the chart's real shutdown timings, longer floods and
// more restarts. Both print their figures as `BENCH <name> <value>` lines.
package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/manifests"
)

const (
	webhookNamespace = "daemonguard"
	serviceAccount   = "daemonguard"
	// apiTimeout is the webhooks' timeoutSeconds in the shipped manifests,
	// checked in TestMain.
	apiTimeout = 5 * time.Second
)

var (
	soak       = os.Getenv("DAEMONGUARD_SOAK") != ""
	scheme     = runtime.NewScheme()
	root       string
	bin        string // the daemonguard binary
	workDir    string
	restCfg    *rest.Config
	k8s        client.Client
	clientset  *kubernetes.Clientset
	lb         *controlplane.Balancer
	certDir    string
	caPEM      []byte
	kubeconfig string // the webhook's: its ServiceAccount's token
	policyPath string
	shipped    *manifest
	timing     chartTiming
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "test/faults: KUBEBUILDER_ASSETS is not set; run `make integration` (or: hack/tools.sh ensure kube-apiserver etcd && export KUBEBUILDER_ASSETS=$(hack/tools.sh path))")
		return 1
	}
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "test/faults: %v\n", err)
		return 1
	}
	defer func() {
		if workDir != "" {
			os.RemoveAll(workDir)
		}
	}()
	env := &envtest.Environment{
		Scheme: scheme,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			LocalServingHost:   "127.0.0.1",
			LocalServingPort:   lb.Port(),
			MutatingWebhooks:   []*admissionregistrationv1.MutatingWebhookConfiguration{shipped.mutating},
			ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{shipped.validating},
		},
	}
	start := time.Now()
	var err error
	if restCfg, err = env.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "test/faults: starting kube-apiserver and etcd: %v\n", err)
		return 1
	}
	defer env.Stop()
	certDir, caPEM = env.WebhookInstallOptions.LocalServingCertDir, env.WebhookInstallOptions.LocalServingCAData
	if err := install(); err != nil {
		fmt.Fprintf(os.Stderr, "test/faults: %v\n", err)
		return 1
	}
	fmt.Printf("test/faults: control plane up in %s; chart timing %+v; soak=%v; logs in %s\n", time.Since(start).Round(time.Millisecond), timing, soak, workDir)
	code := m.Run()
	if code != 0 {
		fmt.Printf("test/faults: replica logs kept in %s\n", workDir)
		workDir = "" // keep the logs
	}
	return code
}

// setup builds the binary, reads the shipped manifest and opens the balancer.
func setup() error {
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme} {
		if err := add(scheme); err != nil {
			return err
		}
	}
	var err error
	if root, err = controlplane.RepoRoot(); err != nil {
		return err
	}
	if workDir, err = os.MkdirTemp("", "daemonguard-faults-"); err != nil {
		return err
	}
	bin = filepath.Join(workDir, "daemonguard")
	build := exec.Command("go", "build", "-o", bin, "./cmd/daemonguard")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building daemonguard: %v\n%s", err, out)
	}
	if shipped, err = loadManifest(filepath.Join(root, controlplane.Manifest)); err != nil {
		return err
	}
	if timing, err = shipped.timing(); err != nil {
		return err
	}
	for _, w := range shipped.validating.Webhooks {
		if w.TimeoutSeconds == nil || time.Duration(*w.TimeoutSeconds)*time.Second != apiTimeout {
			return fmt.Errorf("webhook %s: timeoutSeconds %v, the suite assumes %s", w.Name, w.TimeoutSeconds, apiTimeout)
		}
	}
	if lb, err = controlplane.NewBalancer(); err != nil {
		return err
	}
	for i := range shipped.mutating.Webhooks {
		controlplane.PointAt(&shipped.mutating.Webhooks[i].ClientConfig, lb.URL())
	}
	for i := range shipped.validating.Webhooks {
		controlplane.PointAt(&shipped.validating.Webhooks[i].ClientConfig, lb.URL())
	}
	policyPath = filepath.Join(workDir, "policy.yaml")
	return os.WriteFile(policyPath, []byte(basePolicy), 0o644)
}

// install creates the shipped RBAC, ServiceAccount and PriorityClass, and
// a kubeconfig with the ServiceAccount's token for the replicas: they run
// with exactly the permissions the chart grants.
func install() error {
	ctx := context.Background()
	var err error
	if k8s, err = client.New(restCfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	if clientset, err = kubernetes.NewForConfig(restCfg); err != nil {
		return err
	}
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: webhookNamespace}}); err != nil {
		return err
	}
	for _, obj := range shipped.objects {
		obj.SetResourceVersion("")
		if err := k8s.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %T %s: %w", obj, obj.GetName(), err)
		}
	}
	token, err := saToken(ctx, webhookNamespace, serviceAccount)
	if err != nil {
		return err
	}
	kubeconfig = filepath.Join(workDir, "kubeconfig")
	return writeKubeconfig(kubeconfig, token)
}

// saToken is a bound token of a ServiceAccount, as a pod would mount.
func saToken(ctx context.Context, namespace, name string) (string, error) {
	exp := int64(3600)
	tr, err := clientset.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s/%s: %w", namespace, name, err)
	}
	return tr.Status.Token, nil
}

func writeKubeconfig(path, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: restCfg.Host, CertificateAuthorityData: restCfg.CAData}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["x"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "x"
	return clientcmd.WriteToFile(*cfg, path)
}

// basePolicy is the built-in default policy, written out.
const basePolicy = "apiVersion: daemonguard.io/v1alpha1\nkind: Policy\n"

// manifest is what the suite installs from deploy/manifests/daemonguard.yaml.
type manifest struct {
	mutating   *admissionregistrationv1.MutatingWebhookConfiguration
	validating *admissionregistrationv1.ValidatingWebhookConfiguration
	deployment *appsv1.Deployment
	// ServiceAccount, RBAC and PriorityClasses, in file order.
	objects []client.Object
}

func loadManifest(path string) (*manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	decoder := serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
	m := &manifest{}
	docs, err := manifests.Documents(data)
	if err != nil {
		return nil, err
	}
	for i, doc := range docs {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil || meta.Kind == "" {
			continue
		}
		obj, _, err := decoder.Decode(doc, nil, nil)
		if runtime.IsNotRegisteredError(err) {
			continue // cert-manager objects
		}
		if err != nil {
			return nil, fmt.Errorf("%s document %d: %w", path, i, err)
		}
		switch o := obj.(type) {
		case *admissionregistrationv1.MutatingWebhookConfiguration:
			m.mutating = o
		case *admissionregistrationv1.ValidatingWebhookConfiguration:
			m.validating = o
		case *appsv1.Deployment:
			m.deployment = o
		case *corev1.ServiceAccount, *rbacv1.ClusterRole, *rbacv1.ClusterRoleBinding, *rbacv1.Role, *rbacv1.RoleBinding, *schedulingv1.PriorityClass:
			m.objects = append(m.objects, o.(client.Object))
		}
	}
	if m.mutating == nil || m.validating == nil || m.deployment == nil {
		return nil, fmt.Errorf("%s: want the webhook configurations and the Deployment", path)
	}
	return m, nil
}

// chartTiming is how the chart stops a pod.
type chartTiming struct {
	PreStop, Grace, ShutdownDelay, Drain, MinReady time.Duration
}

func (m *manifest) timing() (chartTiming, error) {
	spec := m.deployment.Spec.Template.Spec
	c := spec.Containers[0]
	var t chartTiming
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		return t, errors.New("the chart's container has no preStop sleep")
	}
	t.PreStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	t.Grace = time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second
	t.MinReady = time.Duration(m.deployment.Spec.MinReadySeconds) * time.Second
	for _, a := range c.Args {
		k, v, _ := strings.Cut(a, "=")
		var err error
		switch k {
		case "--shutdown-delay":
			t.ShutdownDelay, err = time.ParseDuration(v)
		case "--drain-timeout":
			t.Drain, err = time.ParseDuration(v)
		}
		if err != nil {
			return t, fmt.Errorf("%s: %w", a, err)
		}
	}
	if t.ShutdownDelay == 0 || t.Drain == 0 {
		return t, fmt.Errorf("the chart passes no --shutdown-delay or --drain-timeout: %v", c.Args)
	}
	if t.PreStop+t.ShutdownDelay+t.Drain > t.Grace {
		return t, fmt.Errorf("preStop %s + shutdown delay %s + drain %s exceed terminationGracePeriodSeconds %s", t.PreStop, t.ShutdownDelay, t.Drain, t.Grace)
	}
	return t, nil
}

// scaled is the chart's timing in soak runs, a tenth of it otherwise: the
// same sequence and proportions, in seconds rather than a minute a restart.
func (t chartTiming) scaled() chartTiming {
	if soak {
		return t
	}
	return chartTiming{PreStop: t.PreStop / 10, Grace: t.Grace / 10, ShutdownDelay: t.ShutdownDelay / 10, Drain: t.Drain / 10, MinReady: t.MinReady / 10}
}

// pick returns fast in `make test`, long in `make soak`.
func pick[T any](fast, long T) T {
	if soak {
		return long
	}
	return fast
}

// bench prints a figure for make soak's summary.
func bench(t testing.TB, name string, value any) {
	t.Helper()
	fmt.Printf("BENCH %s %v\n", name, value)
}

// --- replicas ---------------------------------------------------------------

// replica is one `daemonguard serve` child process.
type replica struct {
	name                  string
	port, health, metrics int
	cmd                   *exec.Cmd
	logPath               string
	done                  chan struct{}
	exitErr               error
}

// replicaOptions adjust a replica's command line.
type replicaOptions struct {
	timing chartTiming
	extra  []string
}

// startReplica starts a replica and stops it (SIGKILL if need be) when the
// test ends.
func startReplica(t testing.TB, name string, o replicaOptions) *replica {
	t.Helper()
	r := &replica{name: name, port: controlplane.MustFreePort(t), health: controlplane.MustFreePort(t), metrics: controlplane.MustFreePort(t), done: make(chan struct{})}
	r.logPath = filepath.Join(workDir, strings.NewReplacer("/", "-").Replace(t.Name())+"-"+name+".log")
	logFile, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	tm := o.timing
	if tm == (chartTiming{}) {
		tm = timing.scaled()
	}
	args := []string{"serve",
		"--kubeconfig=" + kubeconfig,
		"--host=127.0.0.1", fmt.Sprintf("--port=%d", r.port),
		"--cert-dir=" + certDir, "--cert-name=tls.crt", "--key-name=tls.key",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", r.health),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", r.metrics),
		"--namespace=" + webhookNamespace,
		// As the chart runs it, with the chart's RBAC: every replica keeps
		// the mutating webhook's matchCondition in step with its policy.
		"--mutating-match-condition=policy", "--webhook-configuration-name=" + shipped.mutating.Name,
		"--config=" + policyPath, "--config-poll-interval=100ms",
		"--shutdown-delay=" + tm.ShutdownDelay.String(), "--drain-timeout=" + tm.Drain.String(),
	}
	r.cmd = exec.Command(bin, append(args, o.extra...)...)
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	r.cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent") // the flag, not the environment, must count
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r.exitErr = r.cmd.Wait()
		logFile.Close()
		close(r.done)
	}()
	t.Cleanup(func() {
		if !r.exited() {
			_ = r.cmd.Process.Signal(syscall.SIGKILL)
			<-r.done
		}
	})
	return r
}

func (r *replica) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// waitExit waits up to timeout for the process to end.
func (r *replica) waitExit(timeout time.Duration) bool {
	select {
	case <-r.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// readyz is the status of GET /readyz (0 when unreachable).
func (r *replica) readyz() int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", r.health))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (r *replica) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for r.readyz() != http.StatusOK {
		if r.exited() {
			t.Fatalf("replica %s exited: %v (log %s)", r.name, r.exitErr, r.logPath)
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not ready within 30s (log %s)", r.name, r.logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// memory returns VmHWM and VmRSS in bytes.
func (r *replica) memory(t testing.TB) (hwm, rss int64) {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			hwm = kb << 10
		case "VmRSS:":
			rss = kb << 10
		}
	}
	return hwm, rss
}

// --- load through the API server -------------------------------------------

// load runs DaemonSet server-side dry-run creates through the API server,
// which calls both webhooks (failurePolicy Fail) for each.
type load struct {
	ok, failed atomic.Int64
	inflight   atomic.Int64
	maxLatency atomic.Int64 // nanoseconds
	mu         sync.Mutex
	failures   []failure
	stop       chan struct{}
	wg         sync.WaitGroup
}

type failure struct {
	at  time.Time
	err string
}

// startLoad runs workers until stopped, at most maxCalls calls each.
func startLoad(t testing.TB, workers int) *load {
	t.Helper()
	ns := namespace(t)
	l := &load{stop: make(chan struct{})}
	const maxCalls = 200000
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func(w int) {
			defer l.wg.Done()
			for i := 0; i < maxCalls; i++ {
				select {
				case <-l.stop:
					return
				default:
				}
				l.call(ns, fmt.Sprintf("probe-%d", w))
			}
		}(w)
	}
	t.Cleanup(l.finish)
	return l
}

func (l *load) call(ns, name string) {
	l.inflight.Add(1)
	defer l.inflight.Add(-1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ds := controlplane.Probe(ns)
	ds.Name = name
	start := time.Now()
	err := k8s.Create(ctx, ds, client.DryRunAll)
	took := time.Since(start)
	for {
		m := l.maxLatency.Load()
		if int64(took) <= m || l.maxLatency.CompareAndSwap(m, int64(took)) {
			break
		}
	}
	if err == nil && ds.Annotations[policy.InjectedAnnotation] == "" {
		err = errors.New("admitted without daemonguard's mutation")
	}
	if err != nil {
		l.failed.Add(1)
		l.mu.Lock()
		l.failures = append(l.failures, failure{time.Now(), err.Error()})
		l.mu.Unlock()
		return
	}
	l.ok.Add(1)
}

// finish stops the workers and waits for their last calls.
func (l *load) finish() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	l.wg.Wait()
}

// report logs the failures (the first few) and returns their count.
func (l *load) report(t testing.TB) int64 {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, f := range l.failures {
		if i == 10 {
			t.Logf("... %d more", len(l.failures)-10)
			break
		}
		t.Logf("failed call at %s: %s", f.at.Format("15:04:05.000"), f.err)
	}
	return l.failed.Load()
}

// failuresAfter counts failures at or after at.
func (l *load) failuresAfter(at time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, f := range l.failures {
		if !f.at.Before(at) {
			n++
		}
	}
	return n
}

// namespace creates a namespace for one test.
func namespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("faults-%d", time.Now().UnixNano()%1000000000)
	if err := k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// replicas starts n replicas, waits until all are ready, and makes them the
// balancer's endpoints.
func replicas(t testing.TB, n int, o replicaOptions) []*replica {
	t.Helper()
	out := make([]*replica, n)
	ports := make([]int, n)
	for i := range out {
		out[i] = startReplica(t, fmt.Sprintf("r%d", i), o)
	}
	for i, r := range out {
		r.waitReady(t)
		ports[i] = r.port
	}
	lb.Set(ports...)
	t.Cleanup(func() { lb.Set() })
	return out
}

func clientKey(name string) client.ObjectKey { return client.ObjectKey{Name: name} }
