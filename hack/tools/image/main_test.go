package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestReproducible: two builds of the same source at the same epoch are the
// same bytes (so the same digest); another epoch changes the digest.
func TestReproducible(t *testing.T) {
	root := t.TempDir()
	dockerfile, err := os.ReadFile(filepath.Join("..", "..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"Dockerfile": string(dockerfile),
		"go.mod":     "module example.com/hello\n\ngo 1.26\n",
		"main.go":    "package main\n\nfunc main() { println(\"hello\") }\n",
	} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := func(out string, epoch int64) []byte {
		t.Helper()
		o := &options{root: root, out: filepath.Join(root, out), dockerfile: filepath.Join(root, "Dockerfile"),
			platforms: []string{"linux/amd64", "linux/arm64"}, buildArgs: map[string]string{"VERSION": "v1"},
			epoch: time.Unix(epoch, 0).UTC(), goBuild: []string{"-trimpath", "."}}
		if err := run(o, io.Discard); err != nil {
			t.Fatal(err)
		}
		index, err := os.ReadFile(filepath.Join(o.out, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		return index
	}
	a, b, c := build("a", 1700000000), build("b", 1700000000), build("c", 1700000001)
	if !bytes.Equal(a, b) {
		t.Errorf("two builds differ:\n%s\n%s", a, b)
	}
	if bytes.Equal(a, c) {
		t.Errorf("a different epoch gave the same index:\n%s", a)
	}
}
