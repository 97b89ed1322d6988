// Command gendocs writes the parts of the docs and of the chart's schema
// that the rule and mutator registries define: the README's rule table and
// built-in policy, the chart README's rule list, and the schema's enums of
// rule ids, actions and exemption names. `go generate ./...` runs it;
// `gendocs -check` (and its test) fails when a generated file is stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/precondition"
	"github.com/daemonguard/daemonguard/mutators"
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
	values      = "deploy/helm/daemonguard/values.yaml"
	// conditions is written whole: the validating webhook's matchConditions.
	conditions = "deploy/helm/daemonguard/files/validating-match-conditions.yaml"
	// manifests are the chart rendered for kubectl users; the generator
	// keeps their validating matchConditions (see manifests.go).
	manifests = "deploy/manifests"
	// knowledge is written whole: every host path the rules know.
	knowledge = "validators/README.md"
)

// run regenerates every file; it returns the ones whose content changed (or
// would change, when write is false).
func run(root string, write bool) ([]string, error) {
	d, err := readDocs(root)
	if err != nil {
		return nil, err
	}
	model := policyModel(d)
	conds, err := validatingConditions()
	if err != nil {
		return nil, err
	}
	edits := map[string]func([]byte) ([]byte, error){
		readme: func(b []byte) ([]byte, error) {
			b, err := replaceBlock(b, "rules", rulesTable())
			if err != nil {
				return nil, err
			}
			block, err := defaultPolicy(model)
			if err != nil {
				return nil, err
			}
			if b, err = replaceBlock(b, "default-policy", block); err != nil {
				return nil, err
			}
			return replaceBlock(b, "conditions", conditionsTable())
		},
		chartReadme: func(b []byte) ([]byte, error) {
			b, err := replaceBlock(b, "rules", chartRules())
			if err != nil {
				return nil, err
			}
			rows, err := policyValuesTable(model)
			if err != nil {
				return nil, err
			}
			return replaceBlock(b, "policy-values", rows)
		},
		schema: func(b []byte) ([]byte, error) { return editSchema(b, model) },
		values: func(b []byte) ([]byte, error) {
			y, err := policyYAML(model, config.Defaults(), yamlStyle{comments: true, skipChartWritten: true})
			if err != nil {
				return nil, err
			}
			return replaceBlock(b, "policy", indentLines(y, "  "))
		},
		conditions: func([]byte) ([]byte, error) { return conds, nil },
		knowledge:  func([]byte) ([]byte, error) { return []byte(knowledgeDoc()), nil },
	}
	names := []string{readme, chartReadme, schema, values, conditions, knowledge}
	files, err := filepath.Glob(filepath.Join(root, manifests, "*.yaml"))
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		name, _ := filepath.Rel(root, f)
		names = append(names, name)
		edits[name] = func(b []byte) ([]byte, error) { return spliceConditions(b, conds) }
	}
	var stale []string
	for _, name := range names {
		path := filepath.Join(root, name)
		old, err := os.ReadFile(path)
		if err != nil && !((name == conditions || name == knowledge) && os.IsNotExist(err)) {
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

// replaceBlock replaces the lines between the line holding
// "BEGIN GENERATED: name" and the line holding "END GENERATED: name", in
// whatever comment syntax the file has ("<!-- ... -->" in Markdown, "# ..."
// in YAML).
func replaceBlock(doc []byte, name, content string) ([]byte, error) {
	begin, end := marker(doc, "BEGIN GENERATED: "+name, 0), -1
	if begin >= 0 {
		end = marker(doc, "END GENERATED: "+name, begin)
	}
	if begin < 0 || end < 0 {
		return nil, fmt.Errorf("no generated block %q (mark it with lines holding \"BEGIN GENERATED: %s ...\" and \"END GENERATED: %s\")", name, name, name)
	}
	i := begin + bytes.IndexByte(doc[begin:], '\n') + 1
	j := bytes.LastIndexByte(doc[:end], '\n') + 1
	out := append([]byte(nil), doc[:i]...)
	out = append(out, content...)
	return append(out, doc[j:]...), nil
}

// marker is the offset of the first whole occurrence of m at or after from
// (not followed by more of a name), or -1.
func marker(doc []byte, m string, from int) int {
	for at := from; ; {
		k := bytes.Index(doc[at:], []byte(m))
		if k < 0 {
			return -1
		}
		k += at
		if next := k + len(m); next == len(doc) || doc[next] == ' ' || doc[next] == '\n' || bytes.HasPrefix(doc[next:], []byte("-->")) {
			return k
		}
		at = k + len(m)
	}
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

// defaultPolicy is the built-in policy as a policy file, every field
// spelled out (effectiveDefaults), long lists wrapped.
func defaultPolicy(model *field) (string, error) {
	y, err := policyYAML(model, effectiveDefaults(), yamlStyle{})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("```yaml\n")
	for line := range strings.SplitSeq(strings.TrimSuffix(y, "\n"), "\n") {
		b.WriteString(wrapFlowList(line))
	}
	b.WriteString("```\n")
	return b.String(), nil
}

// wrapFlowList wraps a line "key: [a, b, ...]" longer than 110 columns,
// aligning the items under the first; other lines are returned as they are.
func wrapFlowList(line string) string {
	key, list, ok := strings.Cut(line, ": [")
	if !ok || len(line) <= 110 || !strings.HasSuffix(list, "]") {
		return line + "\n"
	}
	return wrapList(key+": ", strings.Split(strings.TrimSuffix(list, "]"), ", "))
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

// policyValuesTable is the chart README's table of the policy values: one
// row per setting of the policy file, with its default as values.yaml has
// it and the doc comment of its Go field.
func policyValuesTable(model *field) (string, error) {
	defaults := reflect.ValueOf(config.Defaults()).Elem()
	var b strings.Builder
	b.WriteString("| value | default | description |\n|---|---|---|\n")
	var err error
	model.walk(func(f *field) {
		if f.Fields != nil || chartWritten(f) || err != nil {
			return
		}
		v := valueAt(defaults, f, model)
		def := "null"
		switch {
		case !v.IsValid() || (v.Kind() == reflect.Pointer && v.IsNil()):
		case v.Kind() == reflect.Map && v.IsNil():
			def = "{}"
		default:
			var js []byte
			js, err = marshal(v.Interface(), "", "")
			def = string(js)
		}
		fmt.Fprintf(&b, "| `policy.%s` | `%s` | %s |\n", f.key(), def, cell(docSentence(f)))
	})
	return b.String(), err
}
