package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/validators"
)

// effectiveDefaults is the built-in policy with everything the defaults
// leave implicit spelled out: every rule at its default action, and every
// list or map of the validation settings that the file leaves unset (nil)
// at what the rules then use, the rules' built-in list of the same name
// (validators.BuiltinOptions) or empty. So a new list-valued field appears
// in the docs with its built-in value without any change here.
func effectiveDefaults() *config.Policy {
	p := config.Defaults()
	p.Validation.Rules = map[string]config.Action{}
	for _, d := range validators.Registry() {
		p.Validation.Rules[d.ID] = d.Default
	}
	fillBuiltins(reflect.ValueOf(&p.Validation).Elem(), reflect.ValueOf(validators.BuiltinOptions()))
	return p
}

// fillBuiltins sets every nil slice or map field of v to the field of the
// same Go name and type in builtin, or to an empty one.
func fillBuiltins(v, builtin reflect.Value) {
	for i := range v.NumField() {
		f := v.Field(i)
		if (f.Kind() != reflect.Slice && f.Kind() != reflect.Map) || !f.IsNil() {
			continue
		}
		if b := builtin.FieldByName(v.Type().Field(i).Name); b.IsValid() && b.Type() == f.Type() && !b.IsNil() {
			f.Set(b)
			continue
		}
		if f.Kind() == reflect.Slice {
			f.Set(reflect.MakeSlice(f.Type(), 0, 0))
		} else {
			f.Set(reflect.MakeMap(f.Type()))
		}
	}
}

// yamlStyle is how a policy is written.
type yamlStyle struct {
	// comments writes each field's doc comment above it ("# -- ...", the
	// helm-docs convention of values.yaml).
	comments bool
	// skipChartWritten leaves out apiVersion and kind.
	skipChartWritten bool
}

// policyYAML writes p as YAML, every field of the config types in their
// declaration order: a nil list as null and a nil map as {}, so that a
// field is shown even when it is unset; values of other types (tolerations,
// quantities, exemptions) as their JSON encoding has them.
func policyYAML(model *field, p *config.Policy, style yamlStyle) (string, error) {
	node, err := structNode(model, reflect.ValueOf(p).Elem(), style)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return b.String(), nil
}

func structNode(f *field, v reflect.Value, style yamlStyle) (*yaml.Node, error) {
	n := &yaml.Node{Kind: yaml.MappingNode}
	for _, c := range f.Fields {
		if style.skipChartWritten && chartWritten(c) {
			continue
		}
		cv := v.Field(c.Index)
		var value *yaml.Node
		var err error
		switch {
		case cv.Kind() == reflect.Pointer && cv.IsNil():
			continue
		case c.Fields != nil:
			value, err = structNode(c, reflect.Indirect(cv), style)
		case cv.Kind() == reflect.Slice && cv.IsNil():
			value = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
		case cv.Kind() == reflect.Map && cv.IsNil():
			value = &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		default:
			value, err = leafNode(cv.Interface())
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.key(), err)
		}
		key := &yaml.Node{Kind: yaml.ScalarNode, Value: c.Name}
		if style.comments && c.Doc != "" {
			key.HeadComment = comment("-- "+docSentence(c), 80-2*len(c.Path))
		}
		n.Content = append(n.Content, key, value)
	}
	return n, nil
}

// leafNode is v as its JSON encoding, in the plainest YAML: unquoted
// scalars where YAML reads them back the same, short lists and maps of
// scalars on one line.
func leafNode(v any) (*yaml.Node, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(js, &doc); err != nil {
		return nil, err
	}
	n := doc.Content[0]
	plain(n)
	return n, nil
}

func plain(n *yaml.Node) {
	n.Style = 0
	scalars := true
	for _, c := range n.Content {
		plain(c)
		scalars = scalars && c.Kind == yaml.ScalarNode
	}
	switch n.Kind {
	case yaml.SequenceNode:
		if scalars {
			n.Style = yaml.FlowStyle
		}
	case yaml.MappingNode:
		if scalars && len(n.Content) <= 8 {
			n.Style = yaml.FlowStyle
		}
	}
}

// comment wraps text into "# " lines of at most width columns.
func comment(text string, width int) string {
	var lines []string
	line := "#"
	for _, w := range strings.Fields(text) {
		if len(line)+1+len(w) > width && line != "#" && line != "# --" {
			lines = append(lines, line)
			line = "#"
		}
		line += " " + w
	}
	return strings.Join(append(lines, line), "\n")
}

// indentLines prefixes every non-empty line of s.
func indentLines(s, prefix string) string {
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// sortedKeys is for maps the generator ranges over in a fixed order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
