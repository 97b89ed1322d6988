package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/daemonguard/daemonguard/internal/config"
)

// configDir holds the policy file's Go types, relative to the root: their
// doc comments describe the fields in every generated document.
const configDir = "internal/config"

// configPkg is the import path of the policy file's types: structs of this
// package are walked field by field, other types are leaves.
var configPkg = reflect.TypeFor[config.Policy]().PkgPath()

// field is one field of the policy file, found by reflection over the
// config types: its JSON name, its Go type, its doc comment and markers.
type field struct {
	// Name is the field's JSON name; Path is the names from the root.
	Name string
	Path []string
	// GoName is the field's Go name, and Index its index in its struct.
	GoName string
	Index  int
	Type   reflect.Type
	// Doc is the field's doc comment without markers, as one paragraph
	// per blank-line-separated block.
	Doc string
	// Markers are the comment lines of the form "+key=value" (or "+key").
	Markers map[string]string
	// Fields are the fields of a config struct (through pointers); nil
	// for every other type, which is a leaf.
	Fields []*field
	// Elem are the fields of the items of a list of config structs
	// (exemptions): a leaf for the docs, which show such a list whole,
	// but described and constrained item field by item field in the schema.
	Elem []*field
}

// docs are the doc comments of the config package's struct fields, by
// "Type.Field".
type docs map[string]string

// readDocs parses the config package's sources for field doc comments.
func readDocs(root string) (docs, error) {
	dir := filepath.Join(root, configDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := docs{}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			for _, fl := range st.Fields.List {
				text := fl.Doc.Text()
				if text == "" {
					text = fl.Comment.Text()
				}
				for _, n := range fl.Names {
					out[ts.Name.Name+"."+n.Name] = text
				}
			}
			return false
		})
	}
	return out, nil
}

// policyModel walks config.Policy.
func policyModel(d docs) *field {
	root := &field{Type: reflect.TypeFor[config.Policy]()}
	root.Fields = structFields(root.Type, nil, d)
	return root
}

func structFields(t reflect.Type, path []string, d docs) []*field {
	var out []*field
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if !sf.IsExported() || name == "-" || name == "" {
			continue
		}
		f := &field{Name: name, Path: append(append([]string(nil), path...), name), GoName: sf.Name, Index: i, Type: sf.Type}
		f.Doc, f.Markers = splitMarkers(d[t.Name()+"."+sf.Name])
		if st := deref(sf.Type); st.Kind() == reflect.Struct && st.PkgPath() == configPkg {
			f.Fields = structFields(st, f.Path, d)
		} else if st.Kind() == reflect.Slice {
			if et := deref(st.Elem()); et.Kind() == reflect.Struct && et.PkgPath() == configPkg {
				f.Elem = structFields(et, append(f.Path, "[]"), d)
			}
		}
		out = append(out, f)
	}
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// splitMarkers separates a doc comment's marker lines ("+key=value") from
// its prose.
func splitMarkers(doc string) (string, map[string]string) {
	markers := map[string]string{}
	var prose []string
	for line := range strings.SplitSeq(doc, "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "+"); ok {
			k, v, _ := strings.Cut(m, "=")
			markers[k] = v
			continue
		}
		prose = append(prose, line)
	}
	return strings.TrimSpace(strings.Join(prose, "\n")), markers
}

// oneLine is a doc comment as one line of text.
func oneLine(doc string) string { return strings.Join(strings.Fields(doc), " ") }

// key is a field's dotted path.
func (f *field) key() string { return strings.Join(f.Path, ".") }

// walk calls fn for every field below f, depth first, in declaration order.
func (f *field) walk(fn func(*field)) {
	for _, c := range f.Fields {
		fn(c)
		c.walk(fn)
	}
}

// undocumented lists the fields without a doc comment.
func (f *field) undocumented() []string {
	var out []string
	f.walk(func(c *field) {
		if c.Doc == "" && !chartWritten(c) {
			out = append(out, c.key())
		}
	})
	return out
}

// chartWritten is true for the fields the chart's ConfigMap writes itself
// (apiVersion, kind): they are not values.
func chartWritten(f *field) bool {
	return len(f.Path) == 1 && (f.Name == "apiVersion" || f.Name == "kind")
}

// valueAt is the value of f inside root (a config.Policy), or an invalid
// Value when a pointer on the way is nil.
func valueAt(root reflect.Value, f *field, model *field) reflect.Value {
	v := root
	cur := model
	for _, name := range f.Path {
		for v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}
			}
			v = v.Elem()
		}
		var next *field
		for _, c := range cur.Fields {
			if c.Name == name {
				next = c
			}
		}
		if next == nil {
			panic(fmt.Sprintf("no field %s in %s", name, cur.key()))
		}
		v, cur = v.Field(next.Index), next
	}
	return v
}
