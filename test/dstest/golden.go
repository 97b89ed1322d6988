package dstest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/api/resource"
)

// UpdateGoldenEnv names the environment variable that makes Golden write
// the files instead of comparing: UPDATE_GOLDEN=1 go test ./...
const UpdateGoldenEnv = "UPDATE_GOLDEN"

// Golden compares got with the file at path (relative to the test's
// package), or writes it when $UPDATE_GOLDEN is set. A test that lists what
// a registry holds keeps the list there, so adding a rule or a mutator
// changes a data file the author regenerates, not an unrelated test.
func Golden(tb testing.TB, path, got string) {
	tb.Helper()
	if os.Getenv(UpdateGoldenEnv) != "" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (write it with %s=1 go test)", err, UpdateGoldenEnv)
	}
	if string(want) != got {
		tb.Errorf("%s is not what the code gives (after a deliberate change: %s=1 go test, and review the diff):\n got:\n%s\nwant:\n%s", path, UpdateGoldenEnv, got, want)
	}
}

// Diff is the difference between two API objects as equality.Semantic sees
// them (empty and nil lists and maps alike, quantities by value), line by
// line (-want +got): what a failing property test prints instead of the
// whole fuzzed object.
func Diff(want, got any) string {
	return cmp.Diff(want, got, cmpopts.EquateEmpty(), cmp.Comparer(func(a, b resource.Quantity) bool { return a.Cmp(b) == 0 }))
}
