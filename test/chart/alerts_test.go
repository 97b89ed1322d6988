package chart

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/daemonguard/daemonguard/test/internal/promql"
)

const alertsOn = `
metrics:
  prometheusRule: {enabled: true, labels: {release: prometheus}}
  grafanaDashboard: {enabled: true, labels: {team: platform}, annotations: {grafana_folder: Admission}}
`

// TestAlertsAndDashboardOffByDefault: neither the PrometheusRule nor the
// dashboard ConfigMap is rendered unless asked for.
func TestAlertsAndDashboardOffByDefault(t *testing.T) {
	f, err := promql.FromManifest(render(t, "").Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Rules) != 0 || f.Dashboard != nil {
		t.Errorf("rendered by default: %d PrometheusRules, dashboard %v", len(f.Rules), f.Dashboard != nil)
	}
}

// TestAlertsAndDashboard renders both, checks their names, namespaces and
// labels, that every alert has a severity and a runbook_url naming a section
// of this README, and that every expression of the rules and the dashboard
// parses with Prometheus's own parser and selects metrics by name.
func TestAlertsAndDashboard(t *testing.T) {
	r := render(t, alertsOn)
	f, err := promql.FromManifest(r.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Rules) != 1 || f.Dashboard == nil {
		t.Fatalf("want one PrometheusRule and the dashboard ConfigMap, got %d and %v", len(f.Rules), f.Dashboard != nil)
	}
	pr := f.Rules[0]
	if pr.Name != fullname || pr.Namespace != releaseNamespace || pr.Labels["release"] != "prometheus" || pr.Labels["app.kubernetes.io/name"] != "daemonguard" {
		t.Errorf("PrometheusRule %s/%s labels %v", pr.Namespace, pr.Name, pr.Labels)
	}
	cm := f.Dashboard
	if cm.Name != fullname+"-dashboard" || cm.Namespace != releaseNamespace || cm.Labels[promql.DashboardLabel] != "1" ||
		cm.Labels["team"] != "platform" || cm.Annotations["grafana_folder"] != "Admission" {
		t.Errorf("dashboard ConfigMap %s/%s labels %v annotations %v", cm.Namespace, cm.Name, cm.Labels, cm.Annotations)
	}
	// The ConfigMap holds the chart's file as it is.
	file, err := os.ReadFile(filepath.Join(chartDir, "files", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cm.Data["daemonguard.json"]; strings.TrimSpace(got) != strings.TrimSpace(string(file)) || !json.Valid([]byte(got)) {
		t.Errorf("dashboard ConfigMap does not hold files/grafana-dashboard.json as valid JSON")
	}

	anchors := readmeAnchors(t)
	alerts := map[string]bool{}
	for _, g := range pr.Spec.Groups {
		for _, rule := range g.Rules {
			alerts[rule.Alert] = true
			if s := rule.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("alert %s: severity %q", rule.Alert, s)
			}
			url := rule.Annotations["runbook_url"]
			base, anchor, _ := strings.Cut(url, "#")
			if base != "https://github.com/daemonguard/daemonguard/blob/main/deploy/helm/daemonguard/README.md" || !anchors[anchor] {
				t.Errorf("alert %s: runbook_url %q is not a section of the chart README", rule.Alert, url)
			}
			if anchor != strings.ToLower(rule.Alert) {
				t.Errorf("alert %s links to #%s, not its own section", rule.Alert, anchor)
			}
			if rule.Annotations["summary"] == "" || rule.Annotations["description"] == "" {
				t.Errorf("alert %s: no summary or description", rule.Alert)
			}
		}
	}
	for _, want := range []string{"DaemonguardWebhookDown", "DaemonguardWebhookFailingClosed", "DaemonguardAdmissionLatencyHigh",
		"DaemonguardDenialSurge", "DaemonguardMutatingMatchConditionsOutOfSync", "DaemonguardValidatingMatchConditionsOutdated",
		"DaemonguardCertificateExpiring", "DaemonguardReportsStale"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}

	results, err := promql.Parse(repoRoot, f.Exprs)
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range results {
		if res.Error != "" {
			t.Errorf("%s does not parse: %s", res.Source, res.Error)
			continue
		}
		if len(res.Metrics) == 0 {
			t.Errorf("%s selects no metric", res.Source)
		}
		for _, m := range res.Metrics {
			if m == "" {
				t.Errorf("%s has a selector without a metric name", res.Source)
			}
		}
	}
	t.Logf("%d expressions parsed, %d metric names", len(results), len(promql.MetricNames(results)))
}

// TestPromQLParserRejects: the parse check can fail: a broken expression and
// a broken dashboard are reported.
func TestPromQLParserRejects(t *testing.T) {
	results, err := promql.Parse(repoRoot, []promql.Expr{
		{Source: "good", Query: `sum by (rule) (rate(daemonguard_rule_findings_total{action="deny"}[5m]))`},
		{Source: "unclosed", Query: `sum(rate(daemonguard_admission_reviews_total[5m])`},
		{Source: "helm leftover", Query: `up{job="{{ .Release.Name }}"} == 0 and`},
	})
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Error != "" || strings.Join(results[0].Metrics, ",") != "daemonguard_rule_findings_total" {
		t.Errorf("good expression: %+v", results[0])
	}
	for _, r := range results[1:] {
		if r.Error == "" {
			t.Errorf("%s parsed", r.Source)
		}
	}
	if _, err := promql.DashboardExprs([]byte(`{"panels": [{"title": "x", "targets": [{"refId": "A"}]}]}`)); err == nil {
		t.Error("a dashboard target without expr passed")
	}
	if _, err := promql.DashboardExprs([]byte(`{"panels": [`)); err == nil {
		t.Error("invalid dashboard JSON passed")
	}
}

// TestAlertThresholdsFollowValues: the latency threshold is a fraction of
// each webhook's timeoutSeconds; the Reports alert exists only with Reports;
// the dashboard can live where Grafana's sidecar looks.
func TestAlertThresholdsFollowValues(t *testing.T) {
	r := render(t, alertsOn+`
  grafanaDashboard: {enabled: true, namespace: monitoring}
webhooks:
  mutating: {timeoutSeconds: 10}
  validating: {timeoutSeconds: 3}
reports: {enabled: false}
`)
	f, err := promql.FromManifest(r.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range f.Exprs {
		if e.Source == "alert DaemonguardReportsStale" {
			t.Error("DaemonguardReportsStale rendered with reports disabled")
		}
		if e.Source == "alert DaemonguardAdmissionLatencyHigh" {
			compact := strings.Join(strings.Fields(e.Query), " ")
			for _, want := range []string{`"mutate.daemonguard.io"}[5m]))) > 8 `, `"validate.daemonguard.io"}[5m]))) > 2.4`} {
				if !strings.Contains(compact, want) {
					t.Errorf("latency alert %q lacks %q", compact, want)
				}
			}
		}
	}
	if f.Dashboard == nil || f.Dashboard.Namespace != "monitoring" {
		t.Errorf("dashboard not in the namespace asked for: %+v", f.Dashboard)
	}
}

// readmeAnchors are GitHub's anchors of the chart README's headings.
func readmeAnchors(t *testing.T) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	out := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(string(data), -1) {
		a := drop.ReplaceAllString(strings.ToLower(m[1]), "")
		out[strings.ReplaceAll(a, " ", "-")] = true
	}
	return out
}
