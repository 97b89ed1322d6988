package review

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"
	appsv1 "k8s.io/api/apps/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// FuzzFastDecodeAgrees: wherever the fast path decodes a DaemonSet, the API
// server's decoder decodes it too, to the same object. Seeded with every
// example, bypass-corpus and allowed-corpus DaemonSet, and with the inputs
// where the two engines are known to part (duplicate names, invalid UTF-8,
// null, case, numbers): the fast path must refuse those, not read them
// differently.
func FuzzFastDecodeAgrees(f *testing.F) {
	for _, pattern := range []string{"../../deploy/examples/*.yaml", "../../deploy/examples/unsafe/*.yaml", "../policy/testdata/bypass/*.yaml", "../policy/testdata/allowed/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			y, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			if j, err := yaml.YAMLToJSON(y); err == nil {
				f.Add(j)
			}
		}
	}
	for _, s := range []string{
		`{"spec":{"template":{"spec":{"hostPID":false,"hostPID":true}}}}`,
		`{"metadata":{"name":"a` + "\xff" + `b"}}`,
		`{"metadata":{"name":"\ud800"}}`,
		`{"spec":{"template":{"spec":{"HostPID":true}}}}`,
		`{"spec":{"template":{"spec":{"hostPıd":true}}}}`,
		`{"spec":{"template":{"spec":{"containers":[{"name":"a","securityContext":{"privileged":null}}]}}}}`,
		`{"spec":{"minReadySeconds":1e1,"revisionHistoryLimit":1.0}}`,
		`{"spec":{"template":{"spec":{"containers":[{"resources":{"limits":{"cpu":1.5,"memory":"1Gi"}}}]}}}}`,
		`{"spec":{"template":{"spec":{"containers":[{"ports":[{"containerPort":80,"hostPort":"80"}]}]}}}}`,
		`{"spec":{"updateStrategy":{"rollingUpdate":{"maxUnavailable":"10%"}}}}`,
		`{"metadata":{"creationTimestamp":null,"labels":null,"annotations":{"a":null}}}`,
		`{"spec":{"template":{"spec":{"volumes":[{"name":"v","hostPath":{"path":"/","type":""}}]}}}}`,
		`{"spec":{"template":{"spec":{"volumes":[{"name":"v","hostPath":{"path":"/"},"hostPath":null}]}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast appsv1.DaemonSet
		if jsonv2.Unmarshal(data, &fast) != nil {
			return // the fast path refuses it: the API server's decoder reads it
		}
		var slow appsv1.DaemonSet
		if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &slow); err != nil {
			t.Fatalf("the fast path reads what the API server's decoder refuses (%v):\n%s", err, data)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("the fast path reads %s differently:\nfast %#v\nslow %#v", data, fast, slow)
		}
	})
}

// The decoded review is the same whichever path decoded it.
func TestUnmarshalFallsBack(t *testing.T) {
	for _, body := range []string{
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","uid":"v","kind":{"group":"apps","version":"v1","kind":"DaemonSet"},"object":{"spec":{"template":{"spec":{"hostPID":true}}}}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"apps","version":"v1","kind":"DaemonSet"},"object":{"metadata":{"name":"a` + "\xff" + `b"},"spec":{"template":{"spec":{"hostPID":true}}}}}}`,
	} {
		var fast, slow reviewEnvelope[wireRequest]
		if err := jsonv2.Unmarshal([]byte(body), &fast); err == nil {
			t.Fatalf("the fast path reads %s: the test needs one it refuses", body)
		}
		if err := unmarshal([]byte(body), &fast); err != nil {
			t.Fatal(err)
		}
		if err := kjson.UnmarshalCaseSensitivePreserveInts([]byte(body), &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: decoded %+v, the API server's decoder %+v", body, fast.Request, slow.Request)
		}
		if !fast.Request.Object.Spec.Template.Spec.HostPID {
			t.Errorf("%s: hostPID lost in the fallback", body)
		}
	}
}
