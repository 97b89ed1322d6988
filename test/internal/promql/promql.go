// Package promql finds the PromQL in the chart's alerts and dashboard and
// judges it with Prometheus's own parser (hack/tools/promql, a module of its
// own so that the webhook's dependencies stay as they are). test/chart
// checks that every expression parses; test/faults that every metric they
// select is exported.
package promql

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/test/internal/manifests"
)

// DashboardLabel is the label Grafana's dashboard sidecar looks for.
const DashboardLabel = "grafana_dashboard"

// Expr is one PromQL expression and where it comes from.
type Expr struct {
	Source string `json:"name"` // "alert X" or "panel Y / A"
	Query  string `json:"expr"`
}

// Result is what the parser made of one expression.
type Result struct {
	Source  string   `json:"name"`
	Metrics []string `json:"metrics"`
	Error   string   `json:"error,omitempty"`
}

// Found are the PromQL expressions of a rendered chart.
type Found struct {
	Rules     []*monitoringv1.PrometheusRule
	Dashboard *corev1.ConfigMap
	Exprs     []Expr
}

// FromManifest reads the PrometheusRules and the dashboard ConfigMap of a
// rendered chart (helm template's output) and collects their expressions.
func FromManifest(manifest []byte) (*Found, error) {
	f := &Found{}
	docs, err := manifests.Documents(manifest)
	if err != nil {
		return nil, err
	}
	for _, doc := range docs {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, err
		}
		switch meta.Kind {
		case "PrometheusRule":
			pr := &monitoringv1.PrometheusRule{}
			if err := yaml.UnmarshalStrict(doc, pr); err != nil {
				return nil, fmt.Errorf("PrometheusRule: %w", err)
			}
			f.Rules = append(f.Rules, pr)
			for _, g := range pr.Spec.Groups {
				for _, rule := range g.Rules {
					f.Exprs = append(f.Exprs, Expr{Source: "alert " + rule.Alert + rule.Record, Query: rule.Expr.String()})
				}
			}
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			if err := yaml.UnmarshalStrict(doc, cm); err != nil {
				return nil, fmt.Errorf("ConfigMap: %w", err)
			}
			if _, ok := cm.Labels[DashboardLabel]; !ok {
				continue
			}
			f.Dashboard = cm
			for key, data := range cm.Data {
				exprs, err := DashboardExprs([]byte(data))
				if err != nil {
					return nil, fmt.Errorf("ConfigMap %s, %s: %w", cm.Name, key, err)
				}
				f.Exprs = append(f.Exprs, exprs...)
			}
		}
	}
	return f, nil
}

// grafanaDurations are Grafana's interval variables, which Grafana replaces
// with a duration before Prometheus sees the query.
var grafanaDurations = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "6h")

// labelValues is Grafana's variable query label_values(SELECTOR, label).
var labelValues = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// DashboardExprs are the queries of a Grafana dashboard: every panel's
// targets (rows' nested panels too) and every Prometheus variable's
// selector. The JSON must be valid and each target must have a query.
func DashboardExprs(data []byte) ([]Expr, error) {
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("dashboard JSON: %w", err)
	}
	var out []Expr
	var walk func([]panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					return fmt.Errorf("panel %q target %s has no expr", p.Title, t.RefID)
				}
				out = append(out, Expr{Source: fmt.Sprintf("panel %q / %s", p.Title, t.RefID), Query: grafanaDurations.Replace(t.Expr)})
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		sel := labelValues.FindStringSubmatch(q)
		if sel == nil {
			return nil, fmt.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q)
		}
		out = append(out, Expr{Source: "variable " + v.Name, Query: sel[1]})
	}
	return out, nil
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
	Panels []panel `json:"panels"`
}

// Parse runs Prometheus's parser (hack/tools/promql) over exprs. root is the
// repository root. Results come back in order, one per expression.
func Parse(root string, exprs []Expr) ([]Result, error) {
	in, err := json.Marshal(exprs)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "run", ".")
	cmd.Dir = filepath.Join(root, "hack", "tools", "promql")
	// The tool's own module and go.sum, whatever the caller's settings.
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=readonly")
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("hack/tools/promql: %w\n%s", err, stderr.String())
	}
	var out []Result
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		return nil, fmt.Errorf("hack/tools/promql output: %w", err)
	}
	if len(out) != len(exprs) {
		return nil, fmt.Errorf("hack/tools/promql answered %d expressions of %d", len(out), len(exprs))
	}
	return out, nil
}

// MetricNames are the metric names results select, sorted, each once, with
// the expressions that use each.
func MetricNames(results []Result) map[string][]string {
	names := map[string][]string{}
	for _, r := range results {
		for _, m := range r.Metrics {
			if !slices.Contains(names[m], r.Source) {
				names[m] = append(names[m], r.Source)
			}
		}
	}
	return names
}
