package patch

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// A minimal reader of raw JSON, enough to tell whether a path exists in the
// document the API server sent without decoding it a second time. It expects
// valid JSON (the document was decoded before) and reports "not found" on
// anything else rather than guessing.

// trimValue returns b without leading and trailing white space.
func trimValue(b []byte) []byte { return bytes.TrimSpace(b) }

func isNull(v []byte) bool { return len(v) >= 4 && string(v[:4]) == "null" }

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"').
// It jumps from quote to quote (IndexByte is vectorised): a quote ends the
// string unless an odd number of backslashes stands before it.
func skipString(b []byte, i int) int {
	for i++; i < len(b); {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return -1
		}
		i += q
		n := 0
		for j := i - 1; j >= 0 && b[j] == '\\'; j-- {
			n++
		}
		if n%2 == 0 {
			return i + 1
		}
		i++
	}
	return -1
}

// skipValue returns the index after the value starting at b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				if i = skipString(b, i); i < 0 {
					return -1
				}
				i--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	}
	for ; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
	}
	return i
}

// member returns the value of key in the object obj: the first, should the
// object hold the key twice (see NewDocument).
func member(obj []byte, key string) (value []byte, found bool) {
	i := skipSpace(obj, 1)
	for i < len(obj) && obj[i] == '"' {
		end := skipString(obj, i)
		if end < 0 {
			return nil, false
		}
		name := obj[i+1 : end-1]
		i = skipSpace(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return nil, false
		}
		i = skipSpace(obj, i+1)
		vend := skipValue(obj, i)
		if vend < 0 {
			return nil, false
		}
		if keyEquals(name, key) {
			return obj[i:vend], true
		}
		i = skipSpace(obj, vend)
		if i < len(obj) && obj[i] == ',' {
			i = skipSpace(obj, i+1)
		}
	}
	return value, found
}

// keyEquals compares a raw (still escaped) JSON key with key.
func keyEquals(raw []byte, key string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == key
	}
	var s string
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(append(append(quoted, '"'), raw...), '"')
	return json.Unmarshal(quoted, &s) == nil && s == key
}

// element returns element n of the array arr.
// splitElements returns the elements of arr, a JSON array, in one pass; it
// stops at the first one that does not parse.
func splitElements(arr []byte) [][]byte {
	var out [][]byte
	i := skipSpace(arr, 1)
	for i < len(arr) && arr[i] != ']' {
		end := skipValue(arr, i)
		if end < 0 {
			return out
		}
		out = append(out, arr[i:end])
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return out
}

func element(arr []byte, n int) ([]byte, bool) {
	i := skipSpace(arr, 1)
	for k := 0; i < len(arr) && arr[i] != ']'; k++ {
		end := skipValue(arr, i)
		if end < 0 {
			return nil, false
		}
		if k == n {
			return arr[i:end], true
		}
		i = skipSpace(arr, end)
		if i < len(arr) && arr[i] == ',' {
			i = skipSpace(arr, i+1)
		}
	}
	return nil, false
}

// Exists reports whether pointer names an object or list in doc that is not
// null. The mutating webhook uses it to leave objects without metadata or a
// pod template to the API server's validation.
func Exists(doc []byte, pointer string) bool { return NewDocument(doc).Exists(pointer) }

// Exists is the package's Exists on d.
func (d *Document) Exists(pointer string) bool {
	tokens, err := split(pointer)
	if err != nil {
		return false
	}
	depth, err := d.existing(pointer, tokens)
	return err == nil && depth == len(tokens)
}

// Locate returns the byte range [start, end) of the value at pointer in doc,
// so that a tool can replace one value of a JSON file and keep the rest of
// it byte for byte (the docs generator edits the chart's schema this way).
func Locate(doc []byte, pointer string) (start, end int, found bool) {
	tokens, err := split(pointer)
	if err != nil {
		return 0, 0, false
	}
	lead := len(doc) - len(bytes.TrimLeft(doc, " \t\r\n"))
	v := trimValue(doc)
	for _, tok := range tokens {
		var child []byte
		var ok bool
		switch {
		case len(v) > 0 && v[0] == '{':
			child, ok = member(v, tok)
		case len(v) > 0 && v[0] == '[' && isIndex(tok):
			n, _ := strconv.Atoi(tok)
			child, ok = element(v, n)
		}
		if !ok {
			return 0, 0, false
		}
		v = child
	}
	// v is a subslice of doc: its offset is where its first byte lies.
	start = lead + (cap(trimValue(doc)) - cap(v))
	return start, start + len(v), true
}
