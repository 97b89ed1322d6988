// Package integration drives daemonguard through a real kube-apiserver and
// etcd: the webhook server over TLS, registered with the webhook
// configurations deploy/ ships. Run it with `make integration` (or `make test`).
package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
)

var (
	// env is the control plane shared by every test in the package; tests
	// that change the policy file restore it before they return.
	env        *controlplane.Env
	policyFile string
	warnings   = &controlplane.WarningRecorder{}
	// c sends requests through the API server with its warnings recorded.
	c client.Client
	// serverMinor is the running kube-apiserver's minor version: the suite
	// runs on the newest and on the oldest supported one (make integration),
	// and the few tests whose outcome differs between them branch on it.
	serverMinor int
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "integration: KUBEBUILDER_ASSETS is not set; run `make integration`, which builds kube-apiserver and etcd from the Go module proxy")
		return 1
	}
	dir, err := os.MkdirTemp("", "daemonguard-integration")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	policyFile = filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(basePolicy), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	logFile, err := os.Create(webhookLog)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer logFile.Close()
	start := time.Now()
	env, err = controlplane.Start(context.Background(), controlplane.Options{
		PolicyFile: policyFile, PolicyPollInterval: 100 * time.Millisecond, Log: logFile,
		// Shorter than serve's minute, so that the outdated-configuration
		// test does not wait for it.
		ValidatingCheckInterval: 2 * time.Second,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: %v\n(webhook log: %s)\n", err, logFile.Name())
		return 1
	}
	defer env.Stop()
	v, err := env.ServerVersion()
	if err == nil {
		serverMinor, err = controlplane.Minor(v)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration: the API server's version: %v\n", err)
		return 1
	}
	fmt.Printf("integration: kube-apiserver %s, control plane and webhook ready in %s (webhook log: %s)\n", v.GitVersion, time.Since(start).Round(time.Millisecond), logFile.Name())

	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandler = warnings
	if c, err = client.New(cfg, client.Options{Scheme: env.Client.Scheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// webhookLog is where the in-process webhook logs, for tests that look for
// what it told the operator.
var webhookLog = filepath.Join(os.TempDir(), "daemonguard-integration-webhook.log")

// basePolicy is the default policy written out, so that tests can change it.
const basePolicy = `apiVersion: daemonguard.io/v1alpha1
kind: Policy
`

// namespace creates a fresh namespace for one test.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + fmt.Sprintf("-%d", time.Now().UnixNano()%100000)
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// example loads a DaemonSet from deploy/examples into namespace ns.
func example(t *testing.T, file, ns string) *appsv1.DaemonSet {
	t.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(root, "deploy", "examples", file))
	if err != nil {
		t.Fatal(err)
	}
	ds := &appsv1.DaemonSet{}
	if err := yaml.UnmarshalStrict(data, ds); err != nil {
		t.Fatal(err)
	}
	ds.Namespace = ns
	return ds
}

// daemonSet builds a minimal valid DaemonSet whose pod spec edit adjusts.
func daemonSet(ns, name string, edit func(*corev1.PodSpec)) *appsv1.DaemonSet {
	ds := dstest.Valid(ns, name, edit)
	ds.TypeMeta = metav1.TypeMeta{} // as the typed client sends it
	return ds
}

// setPolicy writes a new policy file and waits until the webhook serves it,
// judged by ready returning true; the base policy is restored at cleanup.
func setPolicy(t *testing.T, policy string, ready func() bool) {
	t.Helper()
	write := func(p string) {
		if err := os.WriteFile(policyFile, []byte(p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(policy)
	t.Cleanup(func() { restorePolicy(t) })
	deadline := time.Now().Add(15 * time.Second)
	for !ready() {
		if time.Now().After(deadline) {
			t.Fatal("the webhook did not pick up the new policy within 15s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitMutatingCondition(t, policy)
}

// restorePolicy writes the base policy back and waits until the webhook's
// mutating matchCondition follows it.
func restorePolicy(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(policyFile, []byte(basePolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // several poll intervals
	waitMutatingCondition(t, basePolicy)
}

// waitMutatingCondition waits until the mutating webhook's configuration
// carries the matchCondition of policyText, as the webhook writes it: until
// then the API server may skip the webhook for what the policy mutates. A
// policy the webhook rejects leaves the condition as it was.
func waitMutatingCondition(t *testing.T, policyText string) {
	t.Helper()
	cfg, err := config.Parse([]byte(policyText))
	if err != nil {
		return
	}
	p, err := policy.New(cfg, policy.Options{})
	if err != nil {
		return
	}
	want := p.MutatingCondition().MatchConditions(precondition.MutatorMayAct)
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := &admissionregistrationv1.MutatingWebhookConfiguration{}
		if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "daemonguard"}, got); err != nil {
			t.Fatal(err)
		}
		if len(got.Webhooks) > 0 && equality.Semantic.DeepEqual(got.Webhooks[0].MatchConditions, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the mutating webhook's matchConditions did not follow the policy within 15s: have %v", got.Webhooks[0].MatchConditions)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func hostPathVolume(name, path string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path}}}
}
