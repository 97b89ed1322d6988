package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/mutators"
	"github.com/daemonguard/daemonguard/mutators/patch"
	"github.com/daemonguard/daemonguard/validators"
)

// obj is a JSON object that keeps its keys in the order they were set, so
// that the generated schema reads like a hand-written one.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) set(k string, v any) obj { return append(o, kv{k, v}) }

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(e.k)
		v, err := marshal(e.v, "", "")
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.MarshalIndent without escaping <, > and &, which
// patterns and descriptions may hold.
func marshal(v any, prefix, indent string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent(prefix, indent)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// vocabularies are the value sets the registries define, named by the
// +daemonguard:keys and +daemonguard:enum markers of the config types.
func vocabularies() map[string][]string {
	var ids, exemptable []string
	for _, d := range validators.Registry() {
		ids = append(ids, d.ID)
	}
	exemptable = append(exemptable, ids...)
	for _, d := range mutators.Registry() {
		exemptable = append(exemptable, d.Name)
	}
	slices.Sort(exemptable)
	return map[string][]string{"rules": ids, "exemptable": exemptable}
}

func actions() []string {
	var out []string
	for _, a := range config.Actions() {
		out = append(out, string(a))
	}
	return out
}

// quantityPattern is what resource.ParseQuantity accepts, near enough for
// a first check before the binary's own.
const quantityPattern = "^[+]?[0-9.]+([eE][-+]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$"

// Schemas of the Kubernetes types the policy file embeds: their Go types
// carry no markers, and their rules are the API server's.
var (
	quantitySchema = obj{}.set("type", []string{"string", "number"}).set("pattern", quantityPattern)
	stringSchema   = obj{}.set("type", "string")
	known          = map[reflect.Type]func() obj{
		reflect.TypeFor[resource.Quantity](): func() obj { return quantitySchema },
		reflect.TypeFor[corev1.Toleration](): func() obj {
			return strict(obj{}.
				set("key", obj{}.set("type", "string").set("pattern", "^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")).
				set("operator", obj{}.set("type", "string").set("enum", []string{"Exists", "Equal"})).
				set("value", stringSchema).
				set("effect", obj{}.set("type", "string").set("enum", []string{"NoSchedule", "PreferNoSchedule", "NoExecute"})).
				set("tolerationSeconds", obj{}.set("type", "integer")), nil)
		},
		reflect.TypeFor[metav1.LabelSelector](): func() obj {
			requirement := strict(obj{}.
				set("key", stringSchema).
				set("operator", obj{}.set("type", "string").set("enum", []string{"In", "NotIn", "Exists", "DoesNotExist"})).
				set("values", obj{}.set("type", "array").set("items", stringSchema)), []string{"key", "operator"})
			return strict(obj{}.
				set("matchLabels", obj{}.set("type", "object").set("additionalProperties", stringSchema)).
				set("matchExpressions", obj{}.set("type", "array").set("items", requirement)), nil)
		},
	}
)

// strict is an object schema with exactly properties.
func strict(properties obj, required []string) obj {
	o := obj{}.set("type", "object")
	if len(required) > 0 {
		o = o.set("required", required)
	}
	return o.set("additionalProperties", false).set("properties", properties)
}

// policySchema is the JSON schema of the chart's policy value, from the
// config types: a strict object per struct (the binary decodes strictly),
// descriptions from the doc comments, constraints from their markers
// (+kubebuilder:validation:Pattern, MaxLength, Minimum, and items: of each
// for list items; +daemonguard:keys and +daemonguard:enum for the rule ids
// and exemption names the registries define). A list the defaults leave
// unset may be null, which keeps the binary's built-in list.
func policySchema(model *field) (obj, error) {
	defaults := reflect.ValueOf(config.Defaults()).Elem()
	props := obj{}
	for _, c := range model.Fields {
		if chartWritten(c) {
			continue
		}
		s, err := fieldSchema(c, defaults, model)
		if err != nil {
			return nil, err
		}
		props = props.set(c.Name, s)
	}
	return obj{}.
		set("description", "The daemonguard.io/v1alpha1 Policy file (internal/config), strictly decoded by the binary as well.").
		set("type", "object").set("additionalProperties", false).set("properties", props), nil
}

func fieldSchema(f *field, defaults reflect.Value, model *field) (obj, error) {
	var s obj
	if f.Doc != "" {
		s = s.set("description", docSentence(f))
	}
	if f.Fields != nil {
		props := obj{}
		for _, c := range f.Fields {
			cs, err := fieldSchema(c, defaults, model)
			if err != nil {
				return nil, err
			}
			props = props.set(c.Name, cs)
		}
		return append(s, strict(props, nil)...), nil
	}
	nullable := false
	if !defaults.IsValid() {
		// An item's field: no default.
	} else if v := valueAt(defaults, f, model); v.IsValid() && v.Kind() == reflect.Slice && v.IsNil() {
		nullable = true
	}
	if f.Elem != nil {
		props := obj{}
		for _, c := range f.Elem {
			cs, err := fieldSchema(c, reflect.Value{}, model)
			if err != nil {
				return nil, err
			}
			props = props.set(c.Name, cs)
		}
		var typ any = "array"
		if nullable {
			// Unset (null) is the built-in default.
			typ = []string{"array", "null"}
		}
		return append(s, obj{}.set("type", typ).set("items", strict(props, nil))...), nil
	}
	t, err := typeSchema(deref(f.Type), f.Markers, "", nullable)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.key(), err)
	}
	return append(s, t...), nil
}

// typeSchema is the schema of a value of t; prefix selects the markers that
// apply to it ("items:" for a list's items).
func typeSchema(t reflect.Type, markers map[string]string, prefix string, nullable bool) (obj, error) {
	if k, ok := known[t]; ok {
		return k(), nil
	}
	marker := func(name string) (string, bool) {
		v, ok := markers["kubebuilder:validation:"+prefix+name]
		return v, ok
	}
	vocab := vocabularies()
	var s obj
	switch t.Kind() {
	case reflect.Struct:
		props := obj{}
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if !sf.IsExported() || name == "" || name == "-" {
				continue
			}
			cs, err := typeSchema(deref(sf.Type), nil, "", false)
			if err != nil {
				return nil, err
			}
			props = props.set(name, cs)
		}
		return strict(props, nil), nil
	case reflect.Slice:
		typ := any("array")
		if nullable {
			typ = []string{"array", "null"}
		}
		items, err := typeSchema(deref(t.Elem()), markers, prefix+"items:", false)
		if err != nil {
			return nil, err
		}
		if name, ok := markers["daemonguard:enum"]; ok && prefix == "" {
			if vocab[name] == nil {
				return nil, fmt.Errorf("+daemonguard:enum=%s: no such vocabulary", name)
			}
			items = obj{}.set("enum", vocab[name])
		}
		return s.set("type", typ).set("items", items), nil
	case reflect.Map:
		s = s.set("type", "object")
		if name, ok := markers["daemonguard:keys"]; ok {
			if vocab[name] == nil {
				return nil, fmt.Errorf("+daemonguard:keys=%s: no such vocabulary", name)
			}
			s = s.set("propertyNames", obj{}.set("enum", vocab[name]))
		}
		values, err := typeSchema(deref(t.Elem()), nil, "", false)
		if err != nil {
			return nil, err
		}
		return s.set("additionalProperties", values), nil
	case reflect.String:
		if t == reflect.TypeFor[config.Action]() {
			// Unquoted, YAML reads off as false: only the strings pass.
			return s.set("enum", actions()), nil
		}
		s = s.set("type", "string")
	case reflect.Bool:
		s = s.set("type", "boolean")
	case reflect.Int, reflect.Int32, reflect.Int64:
		s = s.set("type", "integer")
	case reflect.Float32, reflect.Float64:
		s = s.set("type", "number")
	default:
		return nil, fmt.Errorf("no schema for %s", t)
	}
	if v, ok := marker("Pattern"); ok {
		s = s.set("pattern", v)
	}
	for _, name := range []string{"MaxLength", "Minimum"} {
		if v, ok := marker(name); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("+kubebuilder:validation:%s%s=%s: %w", prefix, name, v, err)
			}
			s = s.set(strings.ToLower(name[:1])+name[1:], n)
		}
	}
	return s, nil
}

// docSentence is a field's doc comment for a reader of the values, with a
// leading Go name (Go's doc convention) replaced by the field's own.
func docSentence(f *field) string {
	d := oneLine(f.Doc)
	if rest, ok := strings.CutPrefix(d, f.GoName+" "); ok {
		return f.Name + " " + rest
	}
	return d
}

// editSchema replaces the policy part of the chart's values schema,
// keeping every other byte of the file.
func editSchema(doc []byte, model *field) ([]byte, error) {
	const pointer = "/properties/policy"
	start, end, ok := patch.Locate(doc, pointer)
	if !ok {
		return nil, fmt.Errorf("no %s", pointer)
	}
	s, err := policySchema(model)
	if err != nil {
		return nil, err
	}
	// Indent like the surrounding file: two spaces per level.
	lineStart := bytes.LastIndexByte(doc[:start], '\n') + 1
	indent := len(doc[lineStart:start]) - len(bytes.TrimLeft(doc[lineStart:start], " "))
	value, err := marshal(s, strings.Repeat(" ", indent), "  ")
	if err != nil {
		return nil, err
	}
	return append(append(append([]byte(nil), doc[:start]...), value...), doc[end:]...), nil
}
