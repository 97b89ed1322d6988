package patch

import (
	"encoding/json"
	"strings"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	kjson "sigs.k8s.io/json"
)

func TestPath(t *testing.T) {
	p := NewPath("spec", "template").Child("metadata").Child("annotations").Child("daemonguard.io/injected")
	if got, want := p.Pointer(), "/spec/template/metadata/annotations/daemonguard.io~1injected"; got != want {
		t.Errorf("Pointer() = %q, want %q", got, want)
	}
	if got, want := p.String(), "spec.template.metadata.annotations.daemonguard.io/injected"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	l := NewPath("spec").Child("tolerations")
	if got := l.Index(2).Pointer(); got != "/spec/tolerations/2" {
		t.Errorf("Index pointer = %q", got)
	}
	if got := l.Append(3); got.Pointer() != "/spec/tolerations/-" || got.String() != "spec.tolerations[3]" {
		t.Errorf("Append = %q %q", got.Pointer(), got.String())
	}
	if got := NewPath("a~b").Pointer(); got != "/a~0b" {
		t.Errorf("escaped ~ = %q", got)
	}
	op := Add(l.Append(0), "x")
	if op.Field() != "spec.tolerations[0]" || op.Op != "add" {
		t.Errorf("Add = %+v", op)
	}
}

// TestAnchor fits operations to documents that have, lack, or null the
// parents, and checks the result both as written and by applying it.
func TestAnchor(t *testing.T) {
	tolerations := NewPath("spec", "template", "spec", "tolerations")
	res := NewPath("spec", "template", "spec", "containers").Index(0).Child("resources")
	ann := NewPath("metadata", "annotations", "daemonguard.io/injected")
	cases := map[string]struct {
		doc     string
		ops     []Operation
		wantOps string // JSON of the anchored operations
		want    string // the document after applying them
	}{
		"parents exist": {
			doc:     `{"metadata":{"annotations":{"a":"b"}},"spec":{"template":{"spec":{"tolerations":[{"key":"k"}]}}}}`,
			ops:     []Operation{Add(ann, "x"), Add(tolerations.Append(1), map[string]string{"key": "n"})},
			wantOps: `[{"op":"add","path":"/metadata/annotations/daemonguard.io~1injected","value":"x"},{"op":"add","path":"/spec/template/spec/tolerations/-","value":{"key":"n"}}]`,
			want:    `{"metadata":{"annotations":{"a":"b","daemonguard.io/injected":"x"}},"spec":{"template":{"spec":{"tolerations":[{"key":"k"},{"key":"n"}]}}}}`,
		},
		"missing parents are added whole": {
			doc:     `{"metadata":{"name":"a"},"spec":{"template":{"spec":{}}}}`,
			ops:     []Operation{Add(ann, "x"), Add(tolerations.Append(0), map[string]string{"key": "n"}), Add(tolerations.Append(1), map[string]string{"key": "m"})},
			wantOps: `[{"op":"add","path":"/metadata/annotations","value":{"daemonguard.io/injected":"x"}},{"op":"add","path":"/spec/template/spec/tolerations","value":[{"key":"n"},{"key":"m"}]}]`,
			want:    `{"metadata":{"annotations":{"daemonguard.io/injected":"x"},"name":"a"},"spec":{"template":{"spec":{"tolerations":[{"key":"n"},{"key":"m"}]}}}}`,
		},
		"null parents are replaced": {
			doc:     `{"metadata":{"annotations":null},"spec":{"template":{"spec":{"tolerations":null,"containers":[{"name":"c","resources":null}]}}}}`,
			ops:     []Operation{Add(ann, "x"), Add(res.Child("requests").Child("cpu"), "50m"), Add(res.Child("requests").Child("memory"), "64Mi"), Add(res.Child("limits").Child("cpu"), "1")},
			wantOps: `[{"op":"add","path":"/metadata/annotations","value":{"daemonguard.io/injected":"x"}},{"op":"add","path":"/spec/template/spec/containers/0/resources","value":{"limits":{"cpu":"1"},"requests":{"cpu":"50m","memory":"64Mi"}}}]`,
			want:    `{"metadata":{"annotations":{"daemonguard.io/injected":"x"}},"spec":{"template":{"spec":{"tolerations":null,"containers":[{"name":"c","resources":{"limits":{"cpu":"1"},"requests":{"cpu":"50m","memory":"64Mi"}}}]}}}}`,
		},
		"an existing empty list is added into, keeping unknown fields beside it": {
			doc:     `{"spec":{"template":{"spec":{"containers":[{"name":"c","resources":{"requests":{},"futureField":{"x":1}}}]}}}}`,
			ops:     []Operation{Add(res.Child("requests").Child("cpu"), "50m"), Add(res.Child("limits").Child("cpu"), "1")},
			wantOps: `[{"op":"add","path":"/spec/template/spec/containers/0/resources/requests/cpu","value":"50m"},{"op":"add","path":"/spec/template/spec/containers/0/resources/limits","value":{"cpu":"1"}}]`,
			want:    `{"spec":{"template":{"spec":{"containers":[{"name":"c","resources":{"requests":{"cpu":"50m"},"futureField":{"x":1},"limits":{"cpu":"1"}}}]}}}}`,
		},
		"escaped keys and white space": {
			doc:     " {\n \"metadata\" : { \"annotations\" : { \"a\\u002fb\" : \"c\" } } }\n",
			ops:     []Operation{Add(ann, "x")},
			wantOps: `[{"op":"add","path":"/metadata/annotations/daemonguard.io~1injected","value":"x"}]`,
			want:    `{"metadata":{"annotations":{"a/b":"c","daemonguard.io/injected":"x"}}}`,
		},
		// Documents hold no duplicate keys (the API server serializes
		// them); should one, the first is the one resolved.
		"a duplicate key: the first one is resolved": {
			doc:     `{"metadata":{"annotations":{"a":"b"},"annotations":null}}`,
			ops:     []Operation{Add(ann, "x")},
			wantOps: `[{"op":"add","path":"/metadata/annotations/daemonguard.io~1injected","value":"x"}]`,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ops, err := Anchor([]byte(tc.doc), tc.ops)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.Marshal(ops)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.wantOps {
				t.Errorf("operations\n got %s\nwant %s", got, tc.wantOps)
			}
			if tc.want == "" {
				return
			}
			patched := apply(t, tc.doc, got)
			if !jsonpatch.Equal(patched, []byte(tc.want)) {
				t.Errorf("patched\n got %s\nwant %s", patched, tc.want)
			}
		})
	}
}

func TestAnchorRefuses(t *testing.T) {
	cases := map[string]struct {
		doc  string
		ops  []Operation
		want string
	}{
		"not an add":                       {`{}`, []Operation{{Op: "remove", Path: "/a"}}, "mutators only add"},
		"a list index too far":             {`{"a":[]}`, []Operation{Add(NewPath("a").Index(3).Child("b"), 1)}, "past the end"},
		"a value where a parent should be": {`{"a":"s"}`, []Operation{Add(NewPath("a", "b"), 1)}, "not an object or a list"},
		"overlapping operations":           {`{}`, []Operation{Add(NewPath("a"), map[string]int{}), Add(NewPath("a", "b"), 1)}, "overlap"},
		"the same path twice":              {`{}`, []Operation{Add(NewPath("a", "b"), 1), Add(NewPath("a", "b"), 2)}, "already set"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Anchor([]byte(tc.doc), tc.ops)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestExists(t *testing.T) {
	doc := []byte(`{"metadata":{"name":"a"},"spec":{"template":{"spec":null},"list":[{"x":{}}]}}`)
	for pointer, want := range map[string]bool{
		"/metadata":            true,
		"/metadata/name":       false, // a string, not an object or a list
		"/spec/template":       true,
		"/spec/template/spec":  false, // null
		"/spec/list/0/x":       true,
		"/spec/list/1":         false,
		"/nothing":             false,
		"":                     false,
		"/metadata/name/extra": false,
	} {
		if got := Exists(doc, pointer); got != want {
			t.Errorf("Exists(%q) = %v, want %v", pointer, got, want)
		}
	}
}

func apply(t *testing.T, doc string, ops []byte) []byte {
	t.Helper()
	p, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.Apply([]byte(doc))
	if err != nil {
		t.Fatalf("applying %s to %s: %v", ops, doc, err)
	}
	return out
}

// FuzzAnchor: for any document and any additive operations under a few
// fixed paths, the anchored patch applies to the document, and the result
// holds every value at its path, with everything the document had kept.
func FuzzAnchor(f *testing.F) {
	f.Add([]byte(`{}`), uint8(0xff))
	f.Add([]byte(`{"a":null,"b":{"c":[]}}`), uint8(0x0f))
	f.Add([]byte(`{"a":{"x":1},"b":{"c":[1,2]},"d":{"e":{}}}`), uint8(0xf0))
	f.Add([]byte(`{"b":null}`), uint8(0x55))
	targets := []Path{
		NewPath("a", "k1"), NewPath("a", "k2"), NewPath("b", "c").Append(0), NewPath("b", "c").Append(1),
		NewPath("d", "e", "f"), NewPath("d", "e", "g"), NewPath("d", "h"), NewPath("i", "j~/"),
	}
	f.Fuzz(func(t *testing.T, doc []byte, mask uint8) {
		var before map[string]any
		if json.Unmarshal(doc, &before) != nil || before == nil {
			return
		}
		if strict, err := kjson.UnmarshalStrict(doc, &map[string]any{}, kjson.DisallowDuplicateFields); err != nil || len(strict) > 0 {
			return // duplicate keys: never in a document the API server sends
		}
		var ops []Operation
		for i, p := range targets {
			// Mutators add only what the typed object lacks.
			if mask&(1<<i) != 0 && !strings.HasSuffix(p.Pointer(), "/-") && lookup(before, p.Pointer()) != nil {
				mask &^= 1 << i
			}
			if mask&(1<<i) != 0 {
				ops = append(ops, Add(p, i))
			}
		}
		anchored, err := Anchor(doc, ops)
		if err != nil {
			return // the document has a value where a parent should be, or a short list
		}
		body, err := json.Marshal(anchored)
		if err != nil {
			t.Fatal(err)
		}
		p, err := jsonpatch.DecodePatch(body)
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Apply(doc)
		if err != nil {
			t.Fatalf("anchored patch %s does not apply to %s: %v", body, doc, err)
		}
		var after map[string]any
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatal(err)
		}
		if !contains(after, before) {
			t.Fatalf("something the document had was lost or changed: %s -> %s", doc, out)
		}
		for i, p := range targets {
			if mask&(1<<i) != 0 && !strings.HasSuffix(p.Pointer(), "/-") {
				q, err := jsonpatch.DecodePatch([]byte(`[{"op":"test","path":` + quote(p.Pointer()) + `,"value":` + jsonOf(i) + `}]`))
				if err != nil {
					t.Fatal(err)
				}
				if _, err := q.Apply(out); err != nil {
					t.Fatalf("%s does not hold %d after the patch: %s", p.Pointer(), i, out)
				}
			}
		}
	})
}

// contains reports whether after holds everything before had: the same
// scalars, every key of every object, every element of every list (lists
// may grow at the end). A null may have become anything.
func contains(after, before any) bool {
	switch b := before.(type) {
	case nil:
		return true
	case map[string]any:
		a, ok := after.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range b {
			av, has := a[k]
			if !has || !contains(av, v) {
				return false
			}
		}
		return true
	case []any:
		a, ok := after.([]any)
		if !ok || len(a) < len(b) {
			return false
		}
		for i := range b {
			if !contains(a[i], b[i]) {
				return false
			}
		}
		return true
	}
	return jsonEqual(after, before)
}

// lookup returns the value at pointer in a decoded document, or nil.
func lookup(doc any, pointer string) any {
	tokens, _ := split(pointer)
	for _, tok := range tokens {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[tok]
	}
	return doc
}

func quote(s string) string { return jsonOf(s) }

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestLocate(t *testing.T) {
	doc := []byte("  {\"a\": {\"b\": [1, {\"c\": \"x\"}]}, \"d\": null}\n")
	for pointer, want := range map[string]string{
		"/a/b/1/c": `"x"`,
		"/a/b/0":   `1`,
		"/a/b":     `[1, {"c": "x"}]`,
		"/d":       `null`,
	} {
		start, end, ok := Locate(doc, pointer)
		if !ok || string(doc[start:end]) != want {
			t.Errorf("Locate(%q) = %q, %v; want %q", pointer, doc[start:end], ok, want)
		}
	}
	if _, _, ok := Locate(doc, "/a/x"); ok {
		t.Error("Locate found a missing key")
	}
	// Escaped quotes and backslashes inside strings end no string early.
	tricky := []byte(`{"a\"b": {"c": "x\\", "q": "\"}{"}, "d": {"e": 1}}`)
	if start, end, ok := Locate(tricky, "/d/e"); !ok || string(tricky[start:end]) != "1" {
		t.Errorf("Locate through escapes = %q, %v", tricky[start:end], ok)
	}
	if start, end, ok := Locate(tricky, "/a\"b/q"); !ok || string(tricky[start:end]) != `"\"}{"` {
		t.Errorf("Locate of an escaped key = %q, %v", tricky[start:end], ok)
	}
}
