package certs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"
)

func newTestWatcher(t *testing.T, dir string, clk *clocktesting.FakeClock) (*Watcher, *Metrics) {
	t.Helper()
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return NewWatcher(WatcherOptions{
		CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
		Metrics: m, Log: logr.Discard(), Clock: clk,
	}), m
}

func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	clk := clocktesting.NewFakeClock(t0)
	w, m := newTestWatcher(t, dir, clk)

	// Before the files exist: no certificate, not ready, no error counted.
	if _, err := w.GetCertificate(nil); err == nil {
		t.Error("GetCertificate without files: no error")
	}
	if err := w.Checker(nil); err == nil {
		t.Error("ready without a certificate")
	}
	if w.Reload() || testutil.ToFloat64(m.reloadErrors) != 0 {
		t.Error("missing files counted as a reload")
	}

	ca := mustCA(t, t0, 10*day)
	first := mustServing(t, ca, testNames, t0, day)
	if _, err := WriteFiles(dir, map[string][]byte{"tls.crt": first.CertPEM, "tls.key": first.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	if !w.Reload() {
		t.Fatal("new files not loaded")
	}
	if err := w.Checker(nil); err != nil {
		t.Errorf("not ready with a valid certificate: %v", err)
	}
	got, err := w.GetCertificate(nil)
	if err != nil || !got.Leaf.Equal(first.Cert) {
		t.Fatalf("serving %v, %v", got, err)
	}
	if testutil.ToFloat64(m.reloads) != 1 || testutil.ToFloat64(m.expiry) != float64(first.Cert.NotAfter.Unix()) {
		t.Errorf("reloads %v expiry %v", testutil.ToFloat64(m.reloads), testutil.ToFloat64(m.expiry))
	}
	if w.Reload() {
		t.Error("unchanged files reloaded")
	}

	// A bad pair is counted once and the good one keeps serving.
	other := mustServing(t, ca, testNames, t0, day)
	if _, err := WriteFiles(dir, map[string][]byte{"tls.crt": first.CertPEM, "tls.key": other.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	w.Reload()
	w.Reload()
	if n := testutil.ToFloat64(m.reloadErrors); n != 1 {
		t.Errorf("reload errors = %v, want 1", n)
	}
	if got, _ := w.GetCertificate(nil); !got.Leaf.Equal(first.Cert) {
		t.Error("a bad pair replaced the good one")
	}

	// A renewal is picked up.
	if _, err := WriteFiles(dir, map[string][]byte{"tls.crt": other.CertPEM, "tls.key": other.KeyPEM}); err != nil {
		t.Fatal(err)
	}
	if !w.Reload() {
		t.Fatal("renewal not loaded")
	}
	if got, _ := w.GetCertificate(nil); !got.Leaf.Equal(other.Cert) {
		t.Error("renewal not served")
	}
	if testutil.ToFloat64(m.reloads) != 2 {
		t.Errorf("reloads = %v, want 2", testutil.ToFloat64(m.reloads))
	}

	// Expired while being served: not ready.
	clk.SetTime(other.Cert.NotAfter)
	if err := w.Checker(nil); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("ready with an expired certificate: %v", err)
	}
}

// Files written in place by a user (provided mode), not through WriteFiles,
// are served too.
func TestWatcherPlainFiles(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, t0, 10*day)
	s := mustServing(t, ca, testNames, t0, day)
	if err := os.WriteFile(filepath.Join(dir, "tls.crt"), s.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), s.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	w, _ := newTestWatcher(t, dir, clocktesting.NewFakeClock(t0))
	if err := w.Checker(nil); err != nil {
		t.Errorf("files present at start not loaded: %v", err)
	}
}

// A writer swaps the pair between the watcher's read of the certificate
// and of the key, and back after the key, so the certificate file holds the
// first pair again when it is looked at twice: a reader that reads the two
// links one after the other sees the first certificate with the second key.
// The watcher reads both through one resolution of ..data: it serves a
// matching pair and counts no error.
func TestWatcherReadsOnePair(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, t0, 10*day)
	a, b := mustServing(t, ca, testNames, t0, day), mustServing(t, ca, testNames, t0, day)
	write := func(p *KeyPair) {
		t.Helper()
		if _, err := WriteFiles(dir, map[string][]byte{"tls.crt": p.CertPEM, "tls.key": p.KeyPEM}); err != nil {
			t.Fatal(err)
		}
	}
	write(a)
	reads := 0
	m, err := NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	hook := func(name string) ([]byte, error) {
		data, err := os.ReadFile(name)
		reads++
		switch reads {
		case 1:
			write(b) // after the certificate
		case 2:
			write(a) // after the key
		}
		return data, err
	}
	w := NewWatcher(WatcherOptions{
		CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
		Metrics: m, Log: logr.Discard(), Clock: clocktesting.NewFakeClock(t0), readFile: hook,
	})
	if n := testutil.ToFloat64(m.reloadErrors); n != 0 {
		t.Fatalf("%v reload errors: a torn pair was read", n)
	}
	got, err := w.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Leaf.Equal(a.Cert) {
		t.Errorf("serving %s, want the pair written last (%s)", got.Leaf.SerialNumber, a.Cert.SerialNumber)
	}
	if reads < 4 {
		t.Errorf("%d reads: the stale resolution was not noticed", reads)
	}
}

// A reader polling while WriteFiles swaps pairs as fast as it can never
// serves a certificate with the wrong key and never counts an error.
func TestWatcherConcurrentWrites(t *testing.T) {
	dir := t.TempDir()
	ca := mustCA(t, t0, 10*day)
	pairs := make([]*KeyPair, 4)
	for i := range pairs {
		pairs[i] = mustServing(t, ca, testNames, t0, day)
	}
	w, m := newTestWatcher(t, dir, clocktesting.NewFakeClock(t0))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			p := pairs[i%len(pairs)]
			if _, err := WriteFiles(dir, map[string][]byte{"tls.crt": p.CertPEM, "tls.key": p.KeyPEM}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	loads := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		if w.Reload() {
			loads++
		}
	}
	if n := testutil.ToFloat64(m.reloadErrors); n != 0 {
		t.Errorf("%v reload errors while pairs were swapped atomically", n)
	}
	if loads == 0 {
		t.Error("nothing loaded")
	}
}

func TestWriteFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	files := map[string][]byte{"tls.crt": []byte("a"), "tls.key": []byte("b")}
	if changed, err := WriteFiles(dir, files); err != nil || !changed {
		t.Fatalf("first write: %v %v", changed, err)
	}
	if changed, err := WriteFiles(dir, files); err != nil || changed {
		t.Fatalf("same content rewritten: %v %v", changed, err)
	}
	// A regular file left by another writer is replaced.
	if err := os.Remove(filepath.Join(dir, "tls.key")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tls.key"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	files["tls.crt"] = []byte("c")
	if changed, err := WriteFiles(dir, files); err != nil || !changed {
		t.Fatalf("second write: %v %v", changed, err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	// Old data directories are cleaned up: one left.
	entries, _ := filepath.Glob(filepath.Join(dir, "..data_*"))
	if len(entries) != 1 {
		t.Errorf("%d data directories left: %v", len(entries), entries)
	}
	if _, err := WriteFiles(dir, map[string][]byte{"../x": nil}); err == nil {
		t.Error("a path outside the directory was accepted")
	}
}
