package dstest

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Corpora of DaemonSets, relative to the repository root: the bypass files
// (each a trick a rule must deny), the allowed ones (safe look-alikes) and
// the examples users apply.
const (
	BypassDir   = "internal/policy/testdata/bypass"
	AllowedDir  = "internal/policy/testdata/allowed"
	ExamplesDir = "deploy/examples"
	UnsafeDir   = "deploy/examples/unsafe"
)

// CorpusFile is one DaemonSet of a corpus with the "# key: value" comments
// at its top. A bypass file says "# rule:" (the rule that denies it),
// "# field:" and "# trick:"; an allowed file "# why-allowed:", "# warns:"
// (rules it may warn through) and "# near:" (rules it is a near miss of);
// "# old: FILE" makes it an UPDATE of the DaemonSet in FILE.
type CorpusFile struct {
	// Name is the file's name without .yaml, unique in its directory.
	Name string
	Path string
	Data []byte
	Head map[string]string
	// Old is the content of the file "# old:" names; nil for a CREATE.
	Old []byte
}

// Rules lists the comma-separated values of a header (rule ids).
func (f *CorpusFile) Rules(key string) []string {
	var out []string
	for r := range strings.SplitSeq(f.Head[key], ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// Corpus reads every *.yaml file of dir (relative to the repository root;
// not its subdirectories), in name order.
func Corpus(tb testing.TB, dir string) []CorpusFile {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(RepoRoot(), dir, "*.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]CorpusFile, 0, len(files))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		f := CorpusFile{Name: strings.TrimSuffix(filepath.Base(file), ".yaml"), Path: file, Data: data, Head: Headers(data)}
		if old := f.Head["old"]; old != "" {
			if f.Old, err = os.ReadFile(filepath.Join(filepath.Dir(file), old)); err != nil {
				tb.Fatalf("%s: # old: %v", file, err)
			}
		}
		out = append(out, f)
	}
	return out
}

// Headers returns the "# key: value" lines at the top of a file.
func Headers(data []byte) map[string]string {
	out := map[string]string{}
	s := bufio.NewScanner(bytes.NewReader(data))
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, "#") {
			break
		}
		if k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "#")), ":"); ok && !strings.ContainsAny(k, " \t") {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}
