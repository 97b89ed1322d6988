package node

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestSnapshotSeesChanges: the isolation check can fail: a file added, one
// rewritten with the same size, one removed, and a change under a skipped
// path (not reported).
func TestSnapshotSeesChanges(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"keep", "rewrite", "remove", "skipped/x"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("same"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	roots, skips := []string{dir}, []string{filepath.Join(dir, "skipped")}
	before, err := TakeSnapshot(roots, skips)
	if err != nil {
		t.Fatal(err)
	}
	if d := before.Diff(before); len(d) != 0 {
		t.Fatalf("a snapshot differs from itself: %v", d)
	}
	later := time.Now().Add(time.Minute)
	if err := os.WriteFile(filepath.Join(dir, "rewrite"), []byte("SAME"), 0o644); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(filepath.Join(dir, "rewrite"), later, later)
	for _, step := range []func() error{
		func() error { return os.Remove(filepath.Join(dir, "remove")) },
		func() error { return os.WriteFile(filepath.Join(dir, "added"), nil, 0o644) },
		func() error { return os.WriteFile(filepath.Join(dir, "skipped/y"), nil, 0o644) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	after, err := TakeSnapshot(roots, skips)
	if err != nil {
		t.Fatal(err)
	}
	diff := before.Diff(after)
	for _, want := range []string{"added: " + filepath.Join(dir, "added"), "removed: " + filepath.Join(dir, "remove")} {
		if !slices.Contains(diff, want) {
			t.Errorf("diff %v lacks %q", diff, want)
		}
	}
	if !slices.ContainsFunc(diff, func(s string) bool { return strings.HasPrefix(s, "changed: "+filepath.Join(dir, "rewrite")+" ") }) {
		t.Errorf("diff %v does not report the rewritten file", diff)
	}
	for _, d := range diff {
		if filepath.Base(filepath.Dir(d)) == "skipped" {
			t.Errorf("a skipped path is reported: %s", d)
		}
	}
}
