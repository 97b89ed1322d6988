// Package reports drives `daemonguard scan` and the OpenReports Reporter
// against a real kube-apiserver and etcd holding DaemonSets that were created
// while the webhook was absent (its webhook configurations are deleted
// first): the brownfield rollout of issue 12. The OpenReports Report CRD is
// the one the chart installs, a verbatim copy of the reports-api module's.
package reports

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	admissionregv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/poll"
)

var (
	env *controlplane.Env
	c   client.Client
	// binary is daemonguard built from this tree; proxy counts what it sends.
	binary     string
	proxy      *countingProxy
	kubeconfig string
	tmp        string
)

func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "reports: KUBEBUILDER_ASSETS is not set; export KUBEBUILDER_ASSETS=$(hack/tools.sh path)")
		return 1
	}
	var err error
	if tmp, err = os.MkdirTemp("", "daemonguard-reports"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	root, err := controlplane.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	binary = filepath.Join(tmp, "daemonguard")
	build := exec.Command("go", "build", "-o", binary, "./cmd/daemonguard")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "reports: building daemonguard: %v\n", err)
		return 1
	}
	crd, err := controlplane.OpenReportsCRDPath()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logFile, err := os.Create(filepath.Join(os.TempDir(), "daemonguard-reports-webhook.log"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer logFile.Close()
	logOut = logFile
	start := time.Now()
	env, err = controlplane.Start(context.Background(), controlplane.Options{Log: logFile, CRDPaths: []string{crd}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "reports: %v\n(log: %s)\n", err, logFile.Name())
		return 1
	}
	defer env.Stop()
	v, err := env.ServerVersion()
	if err != nil {
		fmt.Fprintf(os.Stderr, "reports: the API server's version: %v\n", err)
		return 1
	}
	fmt.Printf("reports: kube-apiserver %s, control plane ready in %s (log: %s)\n", v.GitVersion, time.Since(start).Round(time.Millisecond), logFile.Name())
	scheme := env.Client.Scheme()
	if err := openreportsv1alpha1.Install(scheme); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if c, err = client.New(env.Config, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Brownfield: the DaemonSets of these tests go in while no webhook is
	// registered, so the API server neither mutates nor denies them.
	ctx := context.Background()
	for _, obj := range []client.Object{
		&admissionregv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "daemonguard"}},
		&admissionregv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "daemonguard"}},
	} {
		if err := c.Delete(ctx, obj); err != nil {
			fmt.Fprintf(os.Stderr, "reports: removing the webhook configurations: %v\n", err)
			return 1
		}
	}
	if proxy, err = newCountingProxy(env.Config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer proxy.Close()
	kubeconfig = filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q}}]
users: [{name: test, user: {}}]
contexts: [{name: test, context: {cluster: test, user: test}}]
current-context: test
`, proxy.URL)), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// logOut receives the replicas' logs.
var logOut *os.File

// countingProxy is a loopback plain-HTTP proxy in front of the API server
// (authenticating as the suite's admin) that counts the requests passing
// through it, by method and path, with a wrapping http.RoundTripper.
type countingProxy struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newCountingProxy(cfg *rest.Config) (*countingProxy, error) {
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	p := &countingProxy{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = roundTripper(func(r *http.Request) (*http.Response, error) {
		p.mu.Lock()
		p.seen = append(p.seen, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		p.mu.Unlock()
		return rt.RoundTrip(r)
	})
	p.Server = httptest.NewServer(rp)
	return p, nil
}

// take returns and clears the requests seen so far.
func (p *countingProxy) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.seen
	p.seen = nil
	return out
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// writeCounter counts the writes to openreports.io one replica sends.
type writeCounter struct{ n atomic.Int64 }

func (w *writeCounter) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		if r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/apis/openreports.io/") {
			w.n.Add(1)
		}
		return rt.RoundTrip(r)
	})
}

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T, prefix string) string {
	t.Helper()
	name := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1000000)
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// daemonSet builds a minimal valid DaemonSet whose pod spec edit adjusts.
func daemonSet(ns, name string, edit func(*corev1.PodSpec)) *appsv1.DaemonSet {
	ds := dstest.Valid(ns, name, edit)
	ds.TypeMeta = metav1.TypeMeta{} // as the typed client sends it
	ds.Labels = map[string]string{"app": name}
	return ds
}

// hostPIDWritable is denied by hostpid-writable-hostpath by default.
//
// The state directory is one the access model knows to be safe to write
// (Vector's), and the container runs as a non-root uid and group, so that
// this rule's is the only failure (no unknown-writable-hostpath, no
// hostpid-as-root; hostpid-shared-uid warns).
func hostPIDWritable(s *corev1.PodSpec) {
	s.HostPID = true
	s.Volumes = []corev1.Volume{{Name: "state", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/vector"}}}}
	s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "state", MountPath: "/state"}}
	id := int64(1000)
	s.SecurityContext = &corev1.PodSecurityContext{RunAsUser: &id, RunAsGroup: &id}
}

// privileged warns (privileged-container) by default.
func privileged(s *corev1.PodSpec) {
	t := true
	s.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &t}
}

// withPriority has everything the mutators would fill in, so the default
// policy neither mutates nor flags it.
func complete(s *corev1.PodSpec) {
	s.PriorityClassName = "infra-daemonset"
	s.Tolerations = []corev1.Toleration{{Key: "node-role.kubernetes.io/control-plane", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(context.Background(), o); err != nil {
			t.Fatal(err)
		}
	}
}

// eventually polls cond every 200ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	poll.Until(t, d, what, cond)
}
