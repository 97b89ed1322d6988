package review

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/test/dstest"
)

func seedObjects(f *testing.F) [][]byte {
	files, _ := filepath.Glob("../../deploy/examples/*.yaml")
	var out [][]byte
	for _, file := range files {
		y, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		j, err := yaml.YAMLToJSON(y)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, j)
	}
	if len(out) == 0 {
		f.Fatal("no seed DaemonSets in deploy/examples")
	}
	return out
}

// FuzzReview feeds arbitrary AdmissionReview bodies through decode and both
// policies: nothing may panic, and an undecodable DaemonSet review is never
// allowed.
func FuzzReview(f *testing.F) {
	for _, obj := range seedObjects(f) {
		for _, op := range []string{"CREATE", "UPDATE"} {
			body, _ := json.Marshal(map[string]any{
				"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
				"request": map[string]any{
					"uid": "u", "operation": op, "namespace": "monitoring",
					"kind":   map[string]string{"group": "apps", "version": "v1", "kind": "DaemonSet"},
					"object": json.RawMessage(obj), "oldObject": json.RawMessage(obj),
				},
			})
			f.Add(body)
		}
	}
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":{"spec":{"template":{"spec":{"containers":[{}]}}}}}}`))
	p, err := policy.New(config.Defaults(), policy.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := Decode(body)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("Decode error of type %T", err)
			}
			resp := Errored(de.UID, 400, err)
			if resp.Allowed {
				t.Fatal("an errored response must not allow")
			}
			return
		}
		m := Mutate(t.Context(), p, req)
		v := Validate(t.Context(), p, req)
		for _, o := range []Outcome{m, v} {
			if o.Response.UID != req.UID {
				t.Fatalf("response uid %q for request %q", o.Response.UID, req.UID)
			}
			if _, err := Encode(&o.Response); err != nil {
				t.Fatalf("encoding response: %v", err)
			}
		}
		if req.IsDaemonSet() && (req.Operation == "CREATE" || req.Operation == "UPDATE") && req.Object == nil && v.Response.Allowed {
			t.Fatal("a DaemonSet review without an object was allowed")
		}
	})
}

// FuzzAdmit runs arbitrary DaemonSet JSON through the offline path, which
// applies the mutating webhook's real patch: the patch must always apply, and
// a second pass over the mutated object must change nothing.
func FuzzAdmit(f *testing.F) {
	for _, obj := range seedObjects(f) {
		f.Add(obj)
	}
	f.Add([]byte(`{"metadata":{"annotations":{}},"spec":{"template":{"spec":{"tolerations":[],"containers":[{"name":"a","resources":{"limits":{"cpu":"10m"}}},{"name":"b","resources":{"requests":{"memory":"1Gi"}}}]}}}}`))
	p, err := policy.New(config.Defaults(), policy.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, obj []byte) {
		if _, err := decodeDaemonSet(obj); err != nil {
			return // not a DaemonSet shape: the webhook denies it as undecodable
		}
		var asMap map[string]any
		strict, err := kjson.UnmarshalStrict(obj, &asMap, kjson.DisallowDuplicateFields)
		if err != nil || asMap == nil || len(strict) > 0 {
			// A JSON patch needs an object document; and duplicate keys never
			// come from the API server, which serializes objects itself (check
			// rejects them while reading YAML).
			return
		}
		a, err := Admit(t.Context(), p, "monitoring", obj, nil)
		if err != nil {
			t.Fatalf("admit: %v\nobject: %s", err, obj)
		}
		again, err := Admit(t.Context(), p, "monitoring", a.Object, nil)
		if err != nil {
			t.Fatalf("second admit: %v", err)
		}
		if len(again.Mutation.Operations) != 0 {
			t.Fatalf("mutation does not converge: the second pass adds %+v", again.Mutation.Operations)
		}
		if !bytes.Equal(again.Object, a.Object) {
			var first, second any
			_ = json.Unmarshal(a.Object, &first)
			_ = json.Unmarshal(again.Object, &second)
			t.Fatalf("second pass changed the object (-first +second):\n%s", dstest.Diff(first, second))
		}
	})
}
