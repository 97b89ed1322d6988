package config

import (
	"encoding/json"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"
)

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	quantityType    = reflect.TypeFor[resource.Quantity]()
)

// misspeltFields reports, with their paths, every key in the policy file that
// names a field only when compared case-insensitively, and every quantity
// that does not parse (the decoder's own error names neither). Keys that match
// no field at all are left to the strict decoder.
func misspeltFields(data []byte) field.ErrorList {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil // the decoder has reported it
	}
	var doc any
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil
	}
	return misspelt(doc, reflect.TypeFor[Policy](), nil)
}

func misspelt(v any, t reflect.Type, at *field.Path) field.ErrorList {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == quantityType {
		if s, ok := v.(string); ok {
			if _, err := resource.ParseQuantity(s); err != nil {
				return field.ErrorList{field.Invalid(at, s, err.Error())}
			}
		}
		return nil
	}
	if t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil // decodes itself
	}
	var errs field.ErrorList
	switch t.Kind() {
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(obj) {
			ft, ok := fields[k]
			if !ok {
				for name := range fields {
					if strings.EqualFold(name, k) {
						errs = append(errs, field.Invalid(child(at, k), k, "field names are case-sensitive: write "+name))
					}
				}
				continue
			}
			errs = append(errs, misspelt(obj[k], ft, child(at, k))...)
		}
	case reflect.Slice:
		if list, ok := v.([]any); ok {
			for i, item := range list {
				errs = append(errs, misspelt(item, t.Elem(), at.Index(i))...)
			}
		}
	case reflect.Map:
		if obj, ok := v.(map[string]any); ok {
			for _, k := range sortedKeys(obj) {
				errs = append(errs, misspelt(obj[k], t.Elem(), at.Key(k))...)
			}
		}
	}
	return errs
}

func child(at *field.Path, name string) *field.Path {
	if at == nil {
		return field.NewPath(name)
	}
	return at.Child(name)
}

// jsonFields maps the JSON names of t's fields to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case name == "" && f.Anonymous:
			for k, v := range jsonFields(f.Type) {
				out[k] = v
			}
		case name == "":
			out[f.Name] = f.Type
		default:
			out[name] = f.Type
		}
	}
	return out
}
