package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
)

// writeText prints the report for a person at a terminal.
func writeText(w io.Writer, r *checkReport) {
	for _, res := range r.Results {
		verdict := "allowed"
		if !res.Allowed {
			verdict = "DENIED"
		}
		if res.Mutated {
			verdict += ", mutated"
		}
		fmt.Fprintf(w, "DaemonSet %s/%s (%s, %s): %s\n", res.Namespace, res.Name, res.Source, res.Operation, verdict)
		for _, op := range res.Patch {
			if !strings.HasPrefix(op.Path, "/metadata/annotations") { // the record of these same changes
				fmt.Fprintf(w, "  injected  %s = %s\n", op.Path, compactJSON(op.Value))
			}
		}
		for _, v := range res.Violations {
			if v.Action == policy.Deny {
				fmt.Fprintf(w, "  denied    [%s] %s: %s\n", v.Rule, v.Field, v.Message)
			}
		}
		for _, v := range res.Violations {
			if v.Action == policy.Audit {
				fmt.Fprintf(w, "  audit     [%s] %s: %s\n", v.Rule, v.Field, v.Message)
			}
		}
		for _, warning := range res.Warnings {
			fmt.Fprintf(w, "  warning   %s\n", warning)
		}
		for _, e := range res.ExemptedBy {
			fmt.Fprintf(w, "  exempt    by %s: %s\n", describeExemption(e), strings.Join(e.Rules, ", "))
		}
		if len(res.Why) > 0 {
			fmt.Fprintln(w, "  why each rule denied (judge these before exempting it; the exemption's reason should answer them):")
			for _, why := range res.Why {
				fmt.Fprintf(w, "    %s\n", why.Line())
			}
		}
		if res.Exemption != nil {
			writeExemption(w, res.Exemption)
		} else if res.NoExemption != "" {
			fmt.Fprintf(w, "  no exemption can admit it alone: %s\n", res.NoExemption)
		}
		if len(res.AllowedHostPaths) > 0 {
			writeAllowedHostPaths(w, res.AllowedHostPaths)
		}
	}
	for _, s := range r.Skipped {
		name := s.Name
		if s.Namespace != "" {
			name = s.Namespace + "/" + name
		}
		fmt.Fprintf(w, "skipped %s %s (%s): %s\n", s.Kind, name, s.Source, s.Reason)
	}
	allowed, denied := 0, 0
	for _, res := range r.Results {
		if res.Allowed {
			allowed++
		} else {
			denied++
		}
	}
	fmt.Fprintf(w, "%d DaemonSet(s): %d allowed, %d denied; %d other document(s) skipped\n", len(r.Results), allowed, denied, len(r.Skipped))
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// writeMutatedYAML prints the input again, in order, with every DaemonSet
// replaced by its mutated form, ready for kubectl apply. Denied DaemonSets are
// left out and reported on stderr, so a pipe never applies them.
func writeMutatedYAML(stdout, stderr io.Writer, r *checkReport, docs []*document) error {
	results := map[string]*checkResult{}
	for i := range r.Results {
		results[r.Results[i].Source] = &r.Results[i]
	}
	first := true
	for _, d := range docs {
		obj := d.json
		if res, ok := results[d.source]; ok {
			if !res.Allowed {
				fmt.Fprintf(stderr, "denied, left out: DaemonSet %s/%s (%s)\n", res.Namespace, res.Name, res.Source)
				for _, v := range res.Violations {
					if v.Action == policy.Deny {
						fmt.Fprintf(stderr, "  [%s] %s: %s\n", v.Rule, v.Field, v.Message)
					}
				}
				continue
			}
			obj = res.Object
			for _, warning := range res.Warnings {
				fmt.Fprintf(stderr, "warning: %s/%s: %s\n", res.Namespace, res.Name, warning)
			}
		}
		y, err := yaml.JSONToYAML(obj)
		if err != nil {
			return err
		}
		if !first {
			if _, err := io.WriteString(stdout, "---\n"); err != nil {
				return err
			}
		}
		first = false
		if _, err := stdout.Write(y); err != nil {
			return err
		}
	}
	return nil
}

// describeExemption names a matched exemption for a person.
func describeExemption(e policy.ExemptionMatch) string {
	name := fmt.Sprintf("exemptions[%d]", e.Index)
	if e.Index == policy.OwnNamespaceExemption {
		name = "the webhook's own namespace"
	}
	if e.Reason != "" && e.Index != policy.OwnNamespaceExemption {
		name += fmt.Sprintf(" (%s)", e.Reason)
	}
	return name
}

// writeExemption prints the exemptions[] entry that would admit a denied
// DaemonSet, ready to paste under the policy's exemptions: (an explicit
// list replaces the built-in kube-system entry, so keep that one).
func writeExemption(w io.Writer, e *config.Exemption) {
	y, err := yaml.Marshal([]*config.Exemption{e})
	if err != nil {
		return
	}
	what := "it alone"
	if len(e.DaemonSets) == 0 {
		what = "it (by its labels: its name is generated)"
	}
	fmt.Fprintf(w, "  to admit %s, an admin adds to the policy's exemptions: (see %s)\n", what, policy.ExemptionsURL)
	for _, line := range strings.Split(strings.TrimRight(string(y), "\n"), "\n") {
		fmt.Fprintf(w, "    %s\n", line)
	}
}

// writeAllowedHostPaths prints the allowedHostPaths entries that make the
// unknown host paths of a denied DaemonSet known safe, ready to paste.
func writeAllowedHostPaths(w io.Writer, a []config.AllowedHostPath) {
	y, err := yaml.Marshal(a)
	if err != nil {
		return
	}
	fmt.Fprintln(w, "  or, if nothing on your nodes reads, runs or trusts these paths, an admin adds to the policy's validation.allowedHostPaths:")
	for _, line := range strings.Split(strings.TrimRight(string(y), "\n"), "\n") {
		fmt.Fprintf(w, "    %s\n", line)
	}
}

// writeJSON writes v as indented JSON: the json output of check and scan.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// exitStatus is check's and scan's contract: exitDenied when some result is
// not allowed, else exitAllowed.
func exitStatus[R any](results []R, allowed func(*R) bool) int {
	for i := range results {
		if !allowed(&results[i]) {
			return exitDenied
		}
	}
	return exitAllowed
}
