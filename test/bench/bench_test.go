package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/daemonguard/daemonguard/test/dstest"
	"github.com/daemonguard/daemonguard/webhook"
)

// requests builds the two reviews the API server sends for one
// `kubectl apply` of the seed: the mutating webhook sees the object as
// submitted (defaulted), the validating webhook sees it after mutation.
func requests(tb testing.TB) (mutateBody, validateBody []byte) {
	tb.Helper()
	p := compiledPolicy(tb)
	ds := seedDaemonSet(tb)
	mutateBody = reviewBody(tb, ds)
	mutated := ds.DeepCopy()
	if m := p.Mutate(context.Background(), namespace, mutated); len(m.Changed) == 0 {
		tb.Fatal("the policy changes nothing on the seed: the mutating benchmark would measure the no-op path")
	}
	return mutateBody, reviewBody(tb, mutated)
}

type side struct {
	name             string
	mutate, validate http.Handler
}

func sides(tb testing.TB) []side {
	p := compiledPolicy(tb)
	dm, dv := daemonguardHandlers(tb, p)
	gm, gv := genericHandlers(tb, p)
	return []side{{"daemonguard", dm, dv}, {"generic", gm, gv}}
}

func BenchmarkMutate(b *testing.B) {
	body, _ := requests(b)
	for _, s := range sides(b) {
		b.Run(s.name, func(b *testing.B) { run(b, s.mutate, webhook.MutatePath, body) })
	}
}

func BenchmarkValidate(b *testing.B) {
	_, body := requests(b)
	for _, s := range sides(b) {
		b.Run(s.name, func(b *testing.B) { run(b, s.validate, webhook.ValidatePath, body) })
	}
}

func run(b *testing.B, h http.Handler, path string, body []byte) {
	p := newPoster(path, body)
	if w := p.serve(h); w.Code != http.StatusOK {
		b.Fatalf("HTTP %d: %s", w.Code, w.Body)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p.serve(h)
	}
}

// BenchmarkUpdate: UPDATEs of the mutated seed, as a re-apply with a new
// label (the template as it was) and an image bump (a new template). Only
// the image bump needs the old object decoded.
func BenchmarkUpdate(b *testing.B) {
	_, body := requests(b)
	var ds appsv1.DaemonSet
	if err := json.Unmarshal(reviewObject(b, body), &ds); err != nil {
		b.Fatal(err)
	}
	relabeled, bumped := ds.DeepCopy(), ds.DeepCopy()
	relabeled.Labels["team"] = "observability"
	bumped.Spec.Template.Spec.Containers[0].Image += "-rc1"
	for _, s := range sides(b) {
		b.Run("relabel/"+s.name, func(b *testing.B) { run(b, s.validate, webhook.ValidatePath, updateBody(b, &ds, relabeled)) })
		b.Run("bump/"+s.name, func(b *testing.B) { run(b, s.validate, webhook.ValidatePath, updateBody(b, &ds, bumped)) })
	}
}

// reviewObject is the object of a review body.
func reviewObject(tb testing.TB, body []byte) []byte {
	tb.Helper()
	var r admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &r); err != nil {
		tb.Fatal(err)
	}
	return r.Request.Object.Raw
}

// BenchmarkGrowth: one DaemonSet with 1, 10 and 100 containers, each
// mounting its own hostPath volume, none of the defaults set. The cost per
// container must stay flat: the patch is fitted to the JSON sent in one scan
// of each list, not one per operation.
func BenchmarkGrowth(b *testing.B) {
	p := compiledPolicy(b)
	mutate, validate := daemonguardHandlers(b, p)
	for _, n := range []int{1, 10, 100} {
		ds := dstest.ManyContainers(n)
		mutateBody := reviewBody(b, ds)
		mutated := ds.DeepCopy()
		p.Mutate(context.Background(), namespace, mutated)
		validateBody := reviewBody(b, mutated)
		b.Run(fmt.Sprintf("mutate/%d", n), func(b *testing.B) { run(b, mutate, webhook.MutatePath, mutateBody) })
		b.Run(fmt.Sprintf("validate/%d", n), func(b *testing.B) { run(b, validate, webhook.ValidatePath, validateBody) })
	}
}
