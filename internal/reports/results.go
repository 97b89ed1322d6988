// Package reports reviews the DaemonSets already in a cluster with the
// webhook's own engine, as if each were created now, and turns the verdicts
// into OpenReports (openreports.io/v1alpha1) Reports: one per namespace, one
// result per DaemonSet and rule. `daemonguard scan` prints them; the Reporter
// keeps them up to date from `serve`.
package reports

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
)

const (
	// ReportName is the name of daemonguard's Report in each namespace.
	ReportName = "daemonguard-daemonsets"
	// Source is the Report's and every result's source.
	Source = "daemonguard"
	// ManagedByLabel marks the Reports daemonguard owns; the Reporter
	// watches and deletes only those.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	managedBy      = "daemonguard"
	// DefaultMaxResults bounds the results in one Report (about 350 bytes
	// each), well under the API server's 1.5 MiB object limit.
	DefaultMaxResults = 2500
)

// Results turns an evaluation into one result per enabled rule: pass, fail
// (an enforced or audited finding), warn (a rule at warn) or skip (an
// exemption applies), with severity from the rule's action. Timestamps are
// left zero; Build fills them.
func Results(ev Evaluation) []openreportsv1alpha1.ReportResult {
	subject := []corev1.ObjectReference{ev.Ref}
	if ev.Error != "" {
		return []openreportsv1alpha1.ReportResult{{
			Source: Source, Policy: Source, Result: "error", Subjects: subject,
			Description: ev.Error,
		}}
	}
	out := make([]openreportsv1alpha1.ReportResult, 0, len(ev.Rules))
	for _, r := range ev.Rules {
		res := openreportsv1alpha1.ReportResult{
			Source: Source, Policy: Source, Rule: r.ID, Severity: Severity(r.Action),
			Subjects: subject, Properties: map[string]string{"action": string(r.Action)},
		}
		var found []policy.Violation
		for _, v := range ev.Violations {
			if v.Rule == r.ID {
				found = append(found, v)
			}
		}
		switch m := ev.Exemptions.For(r.ID); {
		case m != nil:
			res.Result = "skip"
			res.Description = "exempt: " + describeExemption(m)
			res.Properties["exemption"] = m.Key()
		case len(found) == 0:
			res.Result = "pass"
		default:
			res.Result, res.Scored = "fail", true
			if r.Action == config.Warn {
				res.Result = "warn"
			}
			res.Description = found[0].Message
			fields := make([]string, len(found))
			for i, v := range found {
				fields[i] = v.Field
			}
			res.Properties["field"] = found[0].Field
			if len(found) > 1 {
				res.Properties["fields"] = strings.Join(fields, ",")
				res.Properties["findings"] = strconv.Itoa(len(found))
				res.Description += fmt.Sprintf(" (and %d more finding(s) of this rule)", len(found)-1)
			}
		}
		out = append(out, res)
	}
	return out
}

// Severity is what a finding of a rule at action a weighs: what would be
// denied is high, what warns medium, what is only audited low.
func Severity(a config.Action) openreportsv1alpha1.ResultSeverity {
	switch a {
	case config.Enforce:
		return "high"
	case config.Warn:
		return "medium"
	default:
		return "low"
	}
}

func describeExemption(m *policy.ExemptionMatch) string {
	s := m.Key()
	if m.Reason != "" {
		s += " (" + m.Reason + ")"
	}
	return s
}

// Build returns the Report for namespace holding results, sorted by
// DaemonSet and then rule. A result equal to one in current keeps its
// timestamp, so that an unchanged verdict never changes the Report;
// others get now. Past maxResults, pass results are left out first, then
// skips, then the rest; the summary always counts every result.
func Build(namespace string, results []openreportsv1alpha1.ReportResult, current *openreportsv1alpha1.Report, now metav1.Timestamp, maxResults int) *openreportsv1alpha1.Report {
	if maxResults <= 0 {
		maxResults = DefaultMaxResults
	}
	r := &openreportsv1alpha1.Report{
		TypeMeta: metav1.TypeMeta{APIVersion: openreportsv1alpha1.GroupVersion.String(), Kind: "Report"},
		ObjectMeta: metav1.ObjectMeta{
			Name: ReportName, Namespace: namespace,
			Labels: map[string]string{ManagedByLabel: managedBy},
		},
		Source: Source,
	}
	old := map[string]metav1.Timestamp{}
	if current != nil {
		for i := range current.Results {
			old[resultKey(&current.Results[i])] = current.Results[i].Timestamp
		}
	}
	results = slices.Clone(results)
	slices.SortStableFunc(results, func(a, b openreportsv1alpha1.ReportResult) int {
		return strings.Compare(subjectName(&a), subjectName(&b))
	})
	for i := range results {
		res := &results[i]
		switch res.Result {
		case "pass":
			r.Summary.Pass++
		case "fail":
			r.Summary.Fail++
		case "warn":
			r.Summary.Warn++
		case "error":
			r.Summary.Error++
		case "skip":
			r.Summary.Skip++
		}
		res.Timestamp = now
		if ts, ok := old[resultKey(res)]; ok {
			res.Timestamp = ts
		}
	}
	if len(results) > maxResults {
		for _, drop := range []openreportsv1alpha1.Result{"pass", "skip"} {
			if len(results) > maxResults {
				results = slices.DeleteFunc(results, func(x openreportsv1alpha1.ReportResult) bool { return x.Result == drop })
			}
		}
		if len(results) > maxResults {
			results = results[:maxResults]
		}
		r.Configuration = &openreportsv1alpha1.ReportConfiguration{Limits: openreportsv1alpha1.Limits{MaxResults: maxResults}}
	}
	r.Results = results
	return r
}

// resultKey identifies a result with its content, timestamp aside: the same
// key means nothing about the verdict changed.
func resultKey(r *openreportsv1alpha1.ReportResult) string {
	c := *r
	c.Timestamp = metav1.Timestamp{}
	data, _ := json.Marshal(c)
	return string(data)
}

func subjectName(r *openreportsv1alpha1.ReportResult) string {
	if len(r.Subjects) == 0 {
		return ""
	}
	return r.Subjects[0].Name
}

// Same reports whether writing desired over current would change nothing
// daemonguard owns: results (with timestamps), summary, configuration,
// source and labels.
func Same(current, desired *openreportsv1alpha1.Report) bool {
	if current == nil {
		return false
	}
	if current.Source != desired.Source || current.Summary != desired.Summary || current.Labels[ManagedByLabel] != managedBy {
		return false
	}
	a, _ := json.Marshal(struct {
		C *openreportsv1alpha1.ReportConfiguration
		R []openreportsv1alpha1.ReportResult
	}{current.Configuration, current.Results})
	b, _ := json.Marshal(struct {
		C *openreportsv1alpha1.ReportConfiguration
		R []openreportsv1alpha1.ReportResult
	}{desired.Configuration, desired.Results})
	return string(a) == string(b)
}
