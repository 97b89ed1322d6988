package patch

import (
	"fmt"
	"strconv"
	"strings"
)

// Anchor fits ops, computed on the typed object decoded from doc, to doc
// itself. The typed object cannot tell an absent field from an empty or null
// one, so an operation whose parent is missing (or null) in doc becomes an
// "add" of the first missing ancestor, holding the value; operations that
// share a missing ancestor are merged into that one add. All other
// operations are kept as they are, in order. The result applies cleanly to
// doc and only ever adds: fields and keys doc has stay as they are, including
// those the Go types do not know.
func Anchor(doc []byte, ops []Operation) ([]Operation, error) {
	return NewDocument(doc).Anchor(ops)
}

// Document is a JSON document that paths are resolved in. It remembers
// every object and list it has resolved, and the elements of every list it
// has indexed, so that each part of the document is scanned once however
// many operations go there: a DaemonSet with a hundred containers costs a
// hundred times one, not ten thousand.
type Document struct {
	raw []byte
	// seen maps a resolved pointer ("" is the whole document) to its value.
	seen map[string][]byte
	// elements maps the pointer of a list to its elements, split once.
	elements map[string][][]byte
}

// NewDocument returns doc, ready for Exists and Anchor. doc must not hold
// duplicate keys (the API server serializes objects itself, and check's
// reader collapses them as kubectl does): the first of two is the one
// resolved.
func NewDocument(doc []byte) *Document {
	return &Document{raw: doc, seen: map[string][]byte{"": trimValue(doc)}}
}

// Anchor is the package's Anchor on d.
func (d *Document) Anchor(ops []Operation) ([]Operation, error) {
	if len(ops) == 0 {
		return nil, nil
	}
	out := make([]Operation, 0, len(ops))
	// created[i] is true when out[i] adds a container that Anchor built, into
	// which later operations below it merge.
	var created []bool
	// at maps the path of each operation in out to its index.
	at := make(map[string]int, len(ops))
	for _, op := range ops {
		if op.Op != "add" {
			return nil, fmt.Errorf("patch operation %q at %s: mutators only add", op.Op, op.Path)
		}
		tokens, err := split(op.Path)
		if err != nil {
			return nil, err
		}
		if i := enclosing(at, op.Path); i >= 0 {
			if !created[i] {
				return nil, fmt.Errorf("patch operations overlap: %s is inside %s", op.Path, out[i].Path)
			}
			rest, _ := split(out[i].Path)
			if out[i].Value, err = insert(out[i].Value, tokens[len(rest):], op.Value); err != nil {
				return nil, fmt.Errorf("patch operation at %s: %w", op.Path, err)
			}
			continue
		}
		depth, err := d.existing(op.Path[:strings.LastIndexByte(op.Path, '/')], tokens[:len(tokens)-1])
		if err != nil {
			return nil, fmt.Errorf("patch operation at %s: %w", op.Path, err)
		}
		if depth == len(tokens)-1 {
			at[op.Path] = len(out)
			out, created = append(out, op), append(created, false)
			continue
		}
		value, err := insert(nil, tokens[depth+1:], op.Value)
		if err != nil {
			return nil, fmt.Errorf("patch operation at %s: %w", op.Path, err)
		}
		anchored := join(tokens[:depth+1])
		at[anchored] = len(out)
		out = append(out, Operation{Op: "add", Path: anchored, Value: value, field: op.field})
		created = append(created, true)
	}
	return out, nil
}

// enclosing returns the index, in at, of the operation whose path is path
// or an ancestor of it, or -1.
func enclosing(at map[string]int, path string) int {
	for p := path; ; {
		if i, ok := at[p]; ok {
			return i
		}
		cut := strings.LastIndexByte(p, '/')
		if cut <= 0 {
			return -1
		}
		p = p[:cut]
	}
}

// existing returns how many leading tokens of parent resolve, in the
// document, to an object or array that is not null. A token past an array's
// end, or an array index where an object is, is an error: the typed object
// and the document then disagree.
// pointer is parent as a JSON pointer: its prefixes name the values on the
// way without building a string.
func (d *Document) existing(pointer string, parent []string) (int, error) {
	// ends[i] is where the pointer of parent[:i+1] ends.
	var buf [16]int
	ends := buf[:0]
	for i := 1; i <= len(pointer); i++ {
		if i == len(pointer) || pointer[i] == '/' {
			ends = append(ends, i)
		}
	}
	if len(ends) != len(parent) {
		return 0, fmt.Errorf("JSON pointer %q does not match its tokens", pointer)
	}
	// Start from the longest prefix of parent already resolved.
	k, v := 0, d.seen[""]
	for i := len(parent); i > 0; i-- {
		if found, ok := d.seen[pointer[:ends[i-1]]]; ok {
			k, v = i, found
			break
		}
	}
	for i := k; i < len(parent); i++ {
		tok := parent[i]
		switch {
		case len(v) > 0 && v[0] == '{':
			child, ok := member(v, tok)
			if !ok || isNull(child) {
				return i, nil
			}
			v = child
		case len(v) > 0 && v[0] == '[':
			n, err := strconv.Atoi(tok)
			if err != nil {
				return 0, fmt.Errorf("%q is not an index into the list at %s", tok, join(parent[:i]))
			}
			list := ""
			if i > 0 {
				list = pointer[:ends[i-1]]
			}
			child, ok := d.element(list, v, n)
			if !ok {
				return 0, fmt.Errorf("index %d is past the end of the list at %s", n, join(parent[:i]))
			}
			if isNull(child) {
				return i, nil
			}
			v = child
		default:
			return 0, fmt.Errorf("%s is not an object or a list in the original object", join(parent[:i]))
		}
		if len(v) > 0 && (v[0] == '{' || v[0] == '[') {
			d.seen[pointer[:ends[i]]] = v
		}
	}
	if len(v) == 0 || (v[0] != '{' && v[0] != '[') {
		return 0, fmt.Errorf("%s is not an object or a list in the original object", join(parent))
	}
	return len(parent), nil
}

// element is the n-th element of arr, the list at pointer list.
func (d *Document) element(list string, arr []byte, n int) ([]byte, bool) {
	elems, ok := d.elements[list]
	if !ok {
		elems = splitElements(arr)
		if d.elements == nil {
			d.elements = map[string][][]byte{}
		}
		d.elements[list] = elems
	}
	if n < 0 || n >= len(elems) {
		return nil, false
	}
	return elems[n], true
}

// insert puts value at tokens below container, creating the objects and
// lists on the way, and returns the container. A nil container is created.
func insert(container any, tokens []string, value any) (any, error) {
	if len(tokens) == 0 {
		if container != nil {
			return nil, fmt.Errorf("a value is already set there")
		}
		return value, nil
	}
	tok := tokens[0]
	if tok == "-" || isIndex(tok) {
		list, ok := container.([]any)
		if container != nil && !ok {
			return nil, fmt.Errorf("a list index %q where an object is", tok)
		}
		if tok != "-" {
			if n, _ := strconv.Atoi(tok); n != len(list) {
				return nil, fmt.Errorf("index %s into a new list of %d elements", tok, len(list))
			}
		}
		elem, err := insert(nil, tokens[1:], value)
		if err != nil {
			return nil, err
		}
		return append(list, elem), nil
	}
	obj, ok := container.(map[string]any)
	if container != nil && !ok {
		return nil, fmt.Errorf("a key %q where a list or a value is", tok)
	}
	if obj == nil {
		obj = map[string]any{}
	}
	child, err := insert(obj[tok], tokens[1:], value)
	if err != nil {
		return nil, err
	}
	obj[tok] = child
	return obj, nil
}

func isIndex(tok string) bool {
	if tok == "" {
		return false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] < '0' || tok[i] > '9' {
			return false
		}
	}
	return true
}

// split returns the unescaped reference tokens of a JSON pointer.
func split(pointer string) ([]string, error) {
	if !strings.HasPrefix(pointer, "/") {
		return nil, fmt.Errorf("JSON pointer %q does not start with /", pointer)
	}
	tokens := strings.Split(pointer[1:], "/")
	for i, t := range tokens {
		tokens[i] = unescape(t)
	}
	return tokens, nil
}

// join is the JSON pointer of tokens.
func join(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(escape(t))
	}
	return b.String()
}
