package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	openreportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/reports"
)

// How scan prints what it found: a summary for a person, or the Reports
// the Reporter would write.

// writeOpenReports prints the Reports the Reporter would write, one per
// namespace, as YAML documents.
func writeOpenReports(w io.Writer, r *scanReport) error {
	byNamespace := map[string][]scanResult{}
	var namespaces []string
	for _, res := range r.Results {
		if _, ok := byNamespace[res.Namespace]; !ok {
			namespaces = append(namespaces, res.Namespace)
		}
		byNamespace[res.Namespace] = append(byNamespace[res.Namespace], res)
	}
	sort.Strings(namespaces)
	now := metav1.Timestamp{Seconds: time.Now().Unix()}
	for i, ns := range namespaces {
		var results []openreportsv1alpha1.ReportResult
		for _, res := range byNamespace[ns] {
			results = append(results, reports.Results(res.ev)...)
		}
		rep := reports.Build(ns, results, nil, now, 0)
		data, err := yaml.Marshal(rep)
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	return nil
}

// writeScanText prints a summary first (counts per rule, what mutation
// would fill in, exemptions), then the worst offenders.
func writeScanText(w io.Writer, r *scanReport) {
	type count struct{ rule, action string }
	perRule := map[count]int{}
	mutated := map[string]int{}
	exempt := map[string]int{}
	denied, namespaces := 0, map[string]bool{}
	for _, res := range r.Results {
		namespaces[res.Namespace] = true
		if !res.Allowed {
			denied++
		}
		seen := map[count]bool{}
		for _, v := range res.Violations {
			seen[count{v.Rule, v.Action}] = true
		}
		for k := range seen {
			perRule[k]++
		}
		fields := map[string]bool{}
		for _, op := range res.Patch {
			if f := mutatedField(op.Path); f != "" {
				fields[f] = true
			}
		}
		for f := range fields {
			mutated[f]++
		}
		for _, e := range res.Exempt {
			exempt[e.Rule+" by "+e.Exemption]++
		}
	}
	fmt.Fprintf(w, "%d DaemonSet(s) in %d namespace(s): %d allowed, %d would be denied\n", len(r.Results), len(namespaces), len(r.Results)-denied, denied)
	if len(perRule) > 0 {
		fmt.Fprintln(w, "\nFindings (DaemonSets per rule and action):")
		keys := make([]count, 0, len(perRule))
		for k := range perRule {
			keys = append(keys, k)
		}
		order := map[string]int{policy.Deny: 0, policy.Warn: 1, policy.Audit: 2}
		sort.Slice(keys, func(i, j int) bool {
			a, b := keys[i], keys[j]
			if order[a.action] != order[b.action] {
				return order[a.action] < order[b.action]
			}
			if perRule[a] != perRule[b] {
				return perRule[a] > perRule[b]
			}
			return a.rule < b.rule
		})
		for _, k := range keys {
			fmt.Fprintf(w, "  %-6s %-40s %d\n", k.action, k.rule, perRule[k])
		}
	}
	printCounts(w, "\nMutation would still fill in (DaemonSets per field):", mutated)
	printCounts(w, "\nExempt (DaemonSets per rule or mutator and exemption):", exempt)

	type offender struct {
		res               *scanResult
		deny, warn, audit int
	}
	var worst []offender
	for i := range r.Results {
		o := offender{res: &r.Results[i]}
		for _, v := range o.res.Violations {
			switch v.Action {
			case policy.Deny:
				o.deny++
			case policy.Warn:
				o.warn++
			default:
				o.audit++
			}
		}
		if o.deny+o.warn+o.audit > 0 {
			worst = append(worst, o)
		}
	}
	sort.SliceStable(worst, func(i, j int) bool {
		a, b := worst[i], worst[j]
		if a.deny != b.deny {
			return a.deny > b.deny
		}
		if a.warn != b.warn {
			return a.warn > b.warn
		}
		return a.audit > b.audit
	})
	if len(worst) == 0 {
		return
	}
	const top = 10
	fmt.Fprintf(w, "\nWorst offenders (%d of %d with findings):\n", min(top, len(worst)), len(worst))
	for _, o := range worst[:min(top, len(worst))] {
		verdict := "allowed"
		if !o.res.Allowed {
			verdict = "DENIED"
		}
		fmt.Fprintf(w, "DaemonSet %s/%s: %s (%d deny, %d warn, %d audit)\n", o.res.Namespace, o.res.Name, verdict, o.deny, o.warn, o.audit)
		for _, v := range o.res.Violations {
			fmt.Fprintf(w, "  %-6s [%s] %s: %s\n", v.Action, v.Rule, v.Field, v.Message)
		}
		// The admin's way out, on one line: the entry admitting it alone.
		switch {
		case o.res.Exemption != nil:
			fmt.Fprintf(w, "  exemption admitting it: %s\n", policy.Flow(o.res.Exemption))
		case o.res.NoExemption != "":
			fmt.Fprintf(w, "  no exemption can admit it alone: %s\n", o.res.NoExemption)
		}
	}
}

func printCounts(w io.Writer, title string, m map[string]int) {
	if len(m) == 0 {
		return
	}
	fmt.Fprintln(w, title)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	for _, k := range keys {
		fmt.Fprintf(w, "  %-50s %d\n", k, m[k])
	}
}

// mutatedField names what a patch operation fills in, without list indices.
func mutatedField(path string) string {
	switch {
	case strings.HasPrefix(path, "/metadata/annotations"):
		return "" // the record of the other operations
	case strings.Contains(path, "/tolerations"):
		return "tolerations"
	case strings.Contains(path, "priorityClassName"):
		return "priorityClassName"
	case strings.Contains(path, "/resources"):
		return "resources"
	}
	return path
}
