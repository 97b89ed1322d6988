// Package patch is the JSON patch a mutator writes: RFC 6902 "add"
// operations at paths the mutator owns, each also named as the field path
// users read in annotations and warnings. Mutators compute their operations
// where they know what they set; Anchor then fits them to the exact JSON the
// API server sent, so that nothing else needs to know which fields a mutator
// touches and no operation ever rewrites what the Go types do not know.
package patch

import (
	"strconv"
	"strings"
)

// Operation is one RFC 6902 operation. daemonguard only ever adds: mutators
// fill what is missing and never change or remove what is there.
type Operation struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
	// field is Path as a field path ("spec.template.spec.tolerations[1]").
	field string
}

// Field is the operation's path as a field path, as the injected-fields
// annotation and warnings name it.
func (o *Operation) Field() string { return o.field }

// Path is a location in an object, kept both as a JSON pointer and as a
// field path. The zero Path is the object's root.
type Path struct {
	pointer, field string
}

// NewPath returns the path of the named fields below the root.
func NewPath(names ...string) Path { return Path{}.Child(names...) }

// Child is the field names (or map keys) below p, each below the one before.
// The strings are built once, whatever the number of names: mutators build
// a path for every value they set.
func (p Path) Child(names ...string) Path {
	np, nf := len(p.pointer), len(p.field)
	for _, n := range names {
		np += 1 + len(n) + strings.Count(n, "~") + strings.Count(n, "/")
		nf += 1 + len(n)
	}
	var ptr, fld strings.Builder
	ptr.Grow(np)
	fld.Grow(nf)
	ptr.WriteString(p.pointer)
	fld.WriteString(p.field)
	for _, n := range names {
		ptr.WriteByte('/')
		writeEscaped(&ptr, n)
		if fld.Len() > 0 {
			fld.WriteByte('.')
		}
		fld.WriteString(n)
	}
	return Path{pointer: ptr.String(), field: fld.String()}
}

// Index is element i of the list at p.
func (p Path) Index(i int) Path {
	s := strconv.Itoa(i)
	return Path{pointer: p.pointer + "/" + s, field: p.field + "[" + s + "]"}
}

// Append is the element after the last of the list at p, which will be
// element i: the pointer appends ("-"), the field path names the index.
func (p Path) Append(i int) Path {
	return Path{pointer: p.pointer + "/-", field: p.field + "[" + strconv.Itoa(i) + "]"}
}

// Pointer is p as an RFC 6901 JSON pointer.
func (p Path) Pointer() string { return p.pointer }

// String is p as a field path.
func (p Path) String() string { return p.field }

// Add is the operation setting value at p.
func Add(p Path, value any) Operation {
	return Operation{Op: "add", Path: p.pointer, Value: value, field: p.field}
}

// writeEscaped writes one reference token, encoded (RFC 6901).
func writeEscaped(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '~':
			b.WriteString("~0")
		case '/':
			b.WriteString("~1")
		default:
			b.WriteByte(s[i])
		}
	}
}

// escape encodes one reference token (RFC 6901).
func escape(s string) string {
	if !strings.ContainsAny(s, "~/") {
		return s
	}
	var b strings.Builder
	writeEscaped(&b, s)
	return b.String()
}

// unescape decodes one reference token.
func unescape(s string) string {
	if !strings.Contains(s, "~") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '~' && i+1 < len(s) && (s[i+1] == '0' || s[i+1] == '1') {
			b.WriteByte("~/"[s[i+1]-'0'])
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
