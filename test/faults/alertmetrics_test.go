package faults

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/poll"
	"github.com/daemonguard/daemonguard/test/internal/promql"
)

// scraperSeries are written by Prometheus itself for every target, never
// exported by one.
var scraperSeries = []string{"up"}

// TestAlertAndDashboardMetricsExist renders the chart's PrometheusRule and
// dashboard, parses their expressions with Prometheus's parser, then runs a
// real `serve` (the chart's flags, Reports on) behind the real API server,
// sends it admissions that are mutated, denied (with an owner), exempted,
// warned and left without a default, and
// checks that every metric name they use is on that serve's /metrics — or,
// for apiserver_*, on kube-apiserver's own /metrics.
func TestAlertAndDashboardMetricsExist(t *testing.T) {
	ctx := context.Background()
	helmBin := os.Getenv("HELM")
	if helmBin == "" {
		t.Fatal("$HELM is not set: run `make integration`, or HELM=$(hack/tools.sh helm)")
	}
	render := exec.Command(helmBin, "template", "daemonguard", "deploy/helm/daemonguard", "--namespace", webhookNamespace,
		"--set", "metrics.prometheusRule.enabled=true,metrics.grafanaDashboard.enabled=true")
	render.Dir = root
	render.Env = append(os.Environ(), "HELM_CONFIG_HOME="+t.TempDir(), "HELM_CACHE_HOME="+t.TempDir(), "HELM_DATA_HOME="+t.TempDir())
	manifest, err := render.Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	found, err := promql.FromManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	results, err := promql.Parse(root, found.Exprs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Error != "" {
			t.Fatalf("%s does not parse: %s", r.Source, r.Error)
		}
	}
	used := promql.MetricNames(results)
	if len(found.Rules) != 1 || found.Dashboard == nil || len(used) < 10 {
		t.Fatalf("rendered %d PrometheusRules, dashboard %v, %d metric names: the chart did not render what this test judges", len(found.Rules), found.Dashboard != nil, len(used))
	}

	// The Reporter needs the Report CRD, as the chart installs it.
	crd, err := controlplane.OpenReportsCRDPath()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := envtest.InstallCRDs(restCfg, envtest.CRDInstallOptions{Paths: []string{crd}, ErrorIfPathMissing: true}); err != nil {
		t.Fatal(err)
	}
	// A policy of its own: one exemption, so that exemption hits are real.
	policy := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(policy, []byte(basePolicy+`exemptions:
- namespaces: [kube-system]
- namespaces: [alert-metrics]
  selector: {matchLabels: {example.com/exempt: "true"}}
  rules: [resources, privileged-container]
  reason: metrics test
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := replicas(t, 1, replicaOptions{extra: []string{"--metrics-secure=false", "--reports", "--config=" + policy}})[0]

	const ns = "alert-metrics"
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	privileged := func(spec *corev1.PodSpec) {
		spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: new(true)}
	}
	mutated := dstest.Valid(ns, "mutated")
	if err := k8s.Create(ctx, mutated); err != nil {
		t.Fatal(err)
	}
	if mutated.Spec.Template.Spec.PriorityClassName == "" {
		t.Error("the DaemonSet was not mutated")
	}
	// Denied, and owned by an operator's object: the owner gets an Event.
	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "operator"}}
	if err := k8s.Create(ctx, owner); err != nil {
		t.Fatal(err)
	}
	denied := dstest.Valid(ns, "denied", privileged, func(spec *corev1.PodSpec) { spec.HostPID = true })
	denied.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID}}
	if err := k8s.Create(ctx, denied); !apierrors.IsInvalid(err) {
		t.Errorf("hostPID + privileged: %v, want a denial", err)
	}
	// Reads the host's /etc as root: no control-plane toleration, with a
	// warning (a default deliberately not applied).
	readsHost := dstest.Valid(ns, "reads-host", func(spec *corev1.PodSpec) {
		spec.Volumes = []corev1.Volume{{Name: "root", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}
		spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "root", MountPath: "/host", ReadOnly: true}}
	})
	if err := k8s.Create(ctx, readsHost); err != nil {
		t.Fatal(err)
	}
	if len(readsHost.Spec.Template.Spec.Tolerations) != 0 {
		t.Errorf("a DaemonSet reading the host's /etc got tolerations %v", readsHost.Spec.Template.Spec.Tolerations)
	}
	exempt := dstest.Valid(ns, "exempt", privileged)
	exempt.Labels = map[string]string{"example.com/exempt": "true"}
	if err := k8s.Create(ctx, exempt); err != nil {
		t.Fatal(err)
	}
	// Admitted with a warning: an existing DaemonSet the Reports count.
	if err := k8s.Create(ctx, dstest.Valid(ns, "warned", privileged)); err != nil {
		t.Fatal(err)
	}

	exported := map[string]bool{}
	poll.Until(t, 30*time.Second, "the Reporter's gauges on /metrics", func() (bool, string) {
		fams, err := scrape(fmt.Sprintf("http://127.0.0.1:%d/metrics", r.metrics))
		if err != nil {
			return false, err.Error()
		}
		exported = names(fams)
		synced := fams["daemonguard_reports_synced_timestamp_seconds"]
		if !exported["daemonguard_daemonsets_with_findings"] || synced == nil || synced.Metric[0].GetGauge().GetValue() == 0 {
			return false, "no findings gauge or sync time yet"
		}
		if !exported["daemonguard_owner_events_total"] {
			return false, "no Event on the denied DaemonSet's owner yet"
		}
		return true, ""
	})
	body, err := clientset.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	apiFams, err := parse(strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	apiExported := names(apiFams)

	checked := 0
	for name, where := range used {
		switch {
		case slices.Contains(scraperSeries, name):
			continue
		case strings.HasPrefix(name, "apiserver_"):
			if !apiExported[name] {
				t.Errorf("%s (used by %s) is not on kube-apiserver's /metrics", name, strings.Join(where, ", "))
			}
		case !exported[name]:
			t.Errorf("%s (used by %s) is not on serve's /metrics", name, strings.Join(where, ", "))
		}
		checked++
	}
	t.Logf("%d metric names from %d expressions found on serve's or kube-apiserver's /metrics", checked, len(results))
	// The check can fail: a name nobody exports is not found.
	if exported["daemonguard_no_such_metric"] || apiExported["daemonguard_admission_reviews_total"] {
		t.Error("the metric lookup finds names that are not exported")
	}
}

// scrape reads a plain-HTTP /metrics.
func scrape(url string) (map[string]*dto.MetricFamily, error) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return parse(resp.Body)
}

func parse(r io.Reader) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(r)
}

// names are the series names the families export, as PromQL selects them:
// a histogram's _bucket, _sum and _count, a summary's _sum and _count.
func names(fams map[string]*dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for name, f := range fams {
		if len(f.Metric) == 0 {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[name+"_bucket"], out[name+"_sum"], out[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			out[name], out[name+"_sum"], out[name+"_count"] = true, true, true
		default:
			out[name] = true
		}
	}
	return out
}
