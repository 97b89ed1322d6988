// Command gendocs writes the parts of the docs and of the chart's schema
// that the rule and mutator registries define: the README's rule table and
// built-in policy, the chart README's rule list, and the schema's enums of
// rule ids, actions and exemption names. `go generate ./...` runs it;
// `gendocs -check` (and its test) fails when a generated file is stale.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/mutators"
	"github.com/daemonguard/daemonguard/mutators/patch"
	"github.com/daemonguard/daemonguard/validators"
)

func main() {
	root := flag.String("root", ".", "the repository's root")
	check := flag.Bool("check", false, "only report stale files; write nothing")
	flag.Parse()
	stale, err := run(*root, !*check)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(2)
	}
	if *check && len(stale) > 0 {
		fmt.Fprintf(os.Stderr, "gendocs: stale, run go generate ./...: %s\n", strings.Join(stale, ", "))
		os.Exit(1)
	}
}

// Files the generator edits, relative to the root.
const (
	readme      = "README.md"
	chartReadme = "deploy/helm/daemonguard/README.md"
	schema      = "deploy/helm/daemonguard/values.schema.json"
	// conditions is written whole: the validating webhook's matchConditions.
	conditions = "deploy/helm/daemonguard/files/validating-match-conditions.yaml"
)

// run regenerates every file; it returns the ones whose content changed (or
// would change, when write is false).
func run(root string, write bool) ([]string, error) {
	edits := map[string]func([]byte) ([]byte, error){
		readme: func(b []byte) ([]byte, error) {
			b, err := replaceBlock(b, "rules", rulesTable())
			if err != nil {
				return nil, err
			}
			if b, err = replaceBlock(b, "default-policy", defaultPolicy()); err != nil {
				return nil, err
			}
			return replaceBlock(b, "conditions", conditionsTable())
		},
		chartReadme: func(b []byte) ([]byte, error) { return replaceBlock(b, "rules", chartRules()) },
		schema:      editSchema,
		conditions:  func([]byte) ([]byte, error) { return validatingConditions() },
	}
	var stale []string
	for _, name := range []string{readme, chartReadme, schema, conditions} {
		path := filepath.Join(root, name)
		old, err := os.ReadFile(path)
		if err != nil && !(name == conditions && os.IsNotExist(err)) {
			return nil, err
		}
		updated, err := edits[name](old)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if bytes.Equal(old, updated) {
			continue
		}
		stale = append(stale, name)
		if write {
			if err := os.WriteFile(path, updated, 0o644); err != nil {
				return nil, err
			}
		}
	}
	return stale, nil
}

// replaceBlock replaces what lies between the lines
// "<!-- BEGIN GENERATED: name ... -->" and "<!-- END GENERATED: name -->".
func replaceBlock(doc []byte, name, content string) ([]byte, error) {
	begin := []byte("<!-- BEGIN GENERATED: " + name)
	end := []byte("<!-- END GENERATED: " + name + " -->")
	i := bytes.Index(doc, begin)
	j := bytes.Index(doc, end)
	if i < 0 || j < i {
		return nil, fmt.Errorf("no generated block %q (mark it with %s ... --> and %s)", name, begin, end)
	}
	i += bytes.IndexByte(doc[i:], '\n') + 1
	out := append([]byte(nil), doc[:i]...)
	out = append(out, content...)
	return append(out, doc[j:]...), nil
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func rulesTable() string {
	var b strings.Builder
	b.WriteString("| id | default | denies / warns when | why it is dangerous |\n|---|---|---|---|\n")
	for _, d := range validators.Registry() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", d.ID, d.Default, cell(d.Summary), cell(d.Why))
	}
	return b.String()
}

func chartRules() string {
	var b strings.Builder
	b.WriteString("| rule | default |\n|---|---|\n")
	for _, d := range validators.Registry() {
		fmt.Fprintf(&b, "| `%s` | %s |\n", d.ID, d.Default)
	}
	var names []string
	for _, d := range mutators.Registry() {
		names = append(names, "`"+d.Name+"`")
	}
	fmt.Fprintf(&b, "\nExemption `rules` may also name the mutators %s.\n", strings.Join(names, ", "))
	return b.String()
}

// defaultPolicy is the built-in policy as a policy file, with comments.
func defaultPolicy() string {
	p := config.Defaults()
	m := &p.Mutation
	var b strings.Builder
	b.WriteString("```yaml\napiVersion: " + config.APIVersion + "\nkind: " + config.Kind + "\nmutation:\n")
	fmt.Fprintf(&b, "  tolerations:\n    enabled: %t\n    defaults:            # added unless an existing toleration covers them\n", *m.Tolerations.Enabled)
	for _, t := range m.Tolerations.Defaults {
		fmt.Fprintf(&b, "    - key: %s\n      operator: %s\n", t.Key, t.Operator)
		if t.Value != "" {
			fmt.Fprintf(&b, "      value: %s\n", t.Value)
		}
		if t.Effect != "" {
			fmt.Fprintf(&b, "      effect: %s\n", t.Effect)
		}
	}
	fmt.Fprintf(&b, "  priorityClass:\n    enabled: %t\n    name: %s   # set when priorityClassName is empty, if the class exists\n", *m.PriorityClass.Enabled, m.PriorityClass.Name)
	r := &m.Resources
	fmt.Fprintf(&b, "  resources:\n    enabled: %t\n    requests: %s   # per container and init container, when missing\n",
		*r.Enabled, flowList(r.Requests))
	fmt.Fprintf(&b, "    memoryLimit: %s   # max(minimum, multiplier × request)\n", limitFlow(&r.MemoryLimit))
	fmt.Fprintf(&b, "    cpuLimit: %s        # off: throttling is latency\n", limitFlow(&r.CPULimit))
	fmt.Fprintf(&b, "    skipPriorityClasses: [%s]  # left alone\n", strings.Join(r.SkipPriorityClasses, ", "))
	b.WriteString("validation:\n  rules:                 # id: enforce | warn | audit | off (unnamed rules keep their default)\n")
	for _, d := range validators.Registry() {
		fmt.Fprintf(&b, "    %s: %s\n", d.ID, d.Default)
	}
	b.WriteString(wrapList("  sensitiveHostPaths: ", validators.DefaultSensitiveHostPaths()))
	b.WriteString(wrapList("  runtimeSockets: ", validators.DefaultRuntimeSockets()))
	b.WriteString("exemptions:\n")
	for _, e := range p.Exemptions {
		fmt.Fprintf(&b, "- namespaces: [%s]\n", strings.Join(e.Namespaces, ", "))
	}
	b.WriteString("```\n")
	return b.String()
}

func limitFlow(l *config.LimitDefault) string {
	return fmt.Sprintf("{enabled: %t, minimum: %s, requestMultiplier: %d}", *l.Enabled, quoteNumber(l.Minimum.String()), l.RequestMultiplier)
}

// quoteNumber quotes a quantity YAML would read as a number ("1").
func quoteNumber(s string) string {
	if strings.Trim(s, "0123456789.") == "" {
		return `"` + s + `"`
	}
	return s
}

func flowList(l corev1.ResourceList) string {
	var parts []string
	for _, n := range slices.Sorted(func(yield func(corev1.ResourceName) bool) {
		for n := range l {
			if !yield(n) {
				return
			}
		}
	}) {
		q := l[n]
		parts = append(parts, string(n)+": "+q.String())
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// wrapList writes a YAML flow list after prefix, wrapped below 110 columns
// and aligned under its first item.
func wrapList(prefix string, items []string) string {
	var b strings.Builder
	indent := strings.Repeat(" ", len(prefix)+1)
	line := prefix + "["
	for i, it := range items {
		word := it
		if i < len(items)-1 {
			word += ","
		}
		if len(line)+len(word)+1 > 110 && !strings.HasSuffix(line, "[") {
			b.WriteString(strings.TrimRight(line, " ") + "\n")
			line = indent
		}
		line += word + " "
	}
	b.WriteString(strings.TrimRight(line, " ") + "]\n")
	return b.String()
}

// conditionsTable says, per rule and per mutator under the built-in
// policy, when the API server calls the webhook for it.
func conditionsTable() string {
	var b strings.Builder
	b.WriteString("| rule or mutator | the API server calls the webhook for it when there is |\n|---|---|\n")
	for _, d := range validators.Registry() {
		fmt.Fprintf(&b, "| `%s` | %s |\n", d.ID, cell(d.Condition().Doc()))
	}
	opts := policy.MutatorOptions(config.Defaults())
	for _, d := range mutators.Registry() {
		fmt.Fprintf(&b, "| `%s` (built-in policy) | %s |\n", d.Name, cell(d.Precondition(opts).Doc()))
	}
	return b.String()
}

// validatingConditions is the chart file holding the validating webhook's
// matchConditions: the rules' conditions, whatever their action, so that no
// policy file can make them too narrow.
func validatingConditions() ([]byte, error) {
	conds := policy.ValidatingCondition(validators.Registry()).MatchConditions(precondition.RuleMayFire)
	body, err := yaml.Marshal(conds)
	if err != nil {
		return nil, err
	}
	head := "# Generated by hack/gendocs from the rules' preconditions (validators.Registry); do not edit.\n" +
		"# The API server calls the validating webhook only when this holds: when some rule, whatever\n" +
		"# its action, can find something in the DaemonSet (README: \"matchConditions\").\n"
	return append([]byte(head), body...), nil
}

// editSchema replaces the enums of the chart's values schema that the
// registries define, keeping every other byte of the file.
func editSchema(doc []byte) ([]byte, error) {
	var ids, exemptable, actions []string
	for _, d := range validators.Registry() {
		ids = append(ids, d.ID)
	}
	exemptable = append(exemptable, ids...)
	for _, d := range mutators.Registry() {
		exemptable = append(exemptable, d.Name)
	}
	slices.Sort(exemptable)
	for _, a := range config.Actions() {
		actions = append(actions, string(a))
	}
	const policy = "/properties/policy/properties"
	for _, e := range []struct {
		pointer string
		values  []string
	}{
		{policy + "/validation/properties/rules/propertyNames/enum", ids},
		{policy + "/validation/properties/rules/additionalProperties/enum", actions},
		{policy + "/exemptions/items/properties/rules/items/enum", exemptable},
	} {
		start, end, ok := patch.Locate(doc, e.pointer)
		if !ok {
			return nil, fmt.Errorf("no %s", e.pointer)
		}
		// Indent like the surrounding file: two spaces per level.
		lineStart := bytes.LastIndexByte(doc[:start], '\n') + 1
		indent := len(doc[lineStart:start]) - len(bytes.TrimLeft(doc[lineStart:start], " "))
		value, err := json.MarshalIndent(e.values, strings.Repeat(" ", indent), "  ")
		if err != nil {
			return nil, err
		}
		doc = append(append(append([]byte(nil), doc[:start]...), value...), doc[end:]...)
	}
	return doc, nil
}
