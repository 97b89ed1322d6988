package certs

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
)

// DefaultPollInterval is how often Watcher reads the certificate files.
const DefaultPollInterval = time.Second

// Watcher serves the certificate and key files in the certificate
// directory, reloading them when they change; it is the webhook server's
// certificate source in every mode.
//
// It replaces controller-runtime's certwatcher because the webhook must
// start before the files exist (a self-managed replica waiting for the
// Secret, cert-manager not having issued yet), stay unready until they do,
// and report reloads and the expiry of what it serves. It polls rather than
// using inotify: a poll of two small files per second follows every way the
// files get replaced (a Secret volume's symlink swap, a rename, an
// in-place write) and costs nothing.
type Watcher struct {
	certFile, keyFile string
	interval          time.Duration
	metrics           *Metrics
	log               logr.Logger
	clock             clock.PassiveClock
	// readFile reads one file: os.ReadFile, or a test's hook that swaps
	// the files between two reads.
	readFile func(string) ([]byte, error)

	// reloading serializes Reload, so a slow read never replaces a newer
	// pair with an older one.
	reloading sync.Mutex
	mu        sync.RWMutex
	current   *tls.Certificate
	// lastCert and lastKey are the file contents last tried, good or bad,
	// so an unchanged bad pair is reported once, not at every poll.
	lastCert, lastKey []byte
}

// WatcherOptions configure a Watcher.
type WatcherOptions struct {
	CertFile, KeyFile string
	// Interval between reads; DefaultPollInterval when zero.
	Interval time.Duration
	Metrics  *Metrics
	Log      logr.Logger
	// Clock is for readiness' expiry test; the real clock when nil.
	Clock clock.PassiveClock
	// readFile replaces os.ReadFile (tests).
	readFile func(string) ([]byte, error)
}

// NewWatcher returns a Watcher of the files in opts and loads them if they
// are there; missing files are not an error, the webhook is simply not ready
// until they appear.
func NewWatcher(opts WatcherOptions) *Watcher {
	w := &Watcher{
		certFile: opts.CertFile, keyFile: opts.KeyFile, interval: opts.Interval,
		metrics: opts.Metrics, log: opts.Log, clock: opts.Clock, readFile: opts.readFile,
	}
	if w.readFile == nil {
		w.readFile = os.ReadFile
	}
	if w.interval <= 0 {
		w.interval = DefaultPollInterval
	}
	if w.clock == nil {
		w.clock = clock.RealClock{}
	}
	w.Reload()
	return w
}

// GetCertificate is the webhook server's tls.Config.GetCertificate.
func (w *Watcher) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.current == nil {
		return nil, fmt.Errorf("no serving certificate loaded from %s yet", w.certFile)
	}
	return w.current, nil
}

// Start polls the files until ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.Reload()
		}
	}
}

// Reload reads the files and serves them if they changed and form a valid
// pair. It reports whether a new certificate is now served.
func (w *Watcher) Reload() bool {
	w.reloading.Lock()
	defer w.reloading.Unlock()
	certPEM, keyPEM, err := w.read()
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, errSwapping) {
		// Not written yet (or deleted), or being written: keep serving
		// what we have.
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil && bytes.Equal(certPEM, w.lastCert) && bytes.Equal(keyPEM, w.lastKey) {
		return false
	}
	w.lastCert, w.lastKey = certPEM, keyPEM
	var pair tls.Certificate
	if err == nil {
		pair, err = tls.X509KeyPair(certPEM, keyPEM)
	}
	if err == nil && pair.Leaf == nil {
		pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0])
	}
	if err != nil {
		w.log.Error(err, "serving certificate not reloaded; the previous one stays in use", "cert", w.certFile, "key", w.keyFile)
		w.metrics.reloadFailed()
		return false
	}
	w.current = &pair
	w.metrics.reloaded(pair.Leaf.NotAfter)
	w.log.Info("serving certificate loaded", "cert", w.certFile, "serial", pair.Leaf.SerialNumber.Text(16),
		"notAfter", pair.Leaf.NotAfter.UTC().Format(time.RFC3339), "dnsNames", pair.Leaf.DNSNames)
	return true
}

// read returns the certificate and key as one pair. In the layout of a
// Secret volume (and of WriteFiles) each file is a link to ..data/<name>,
// and ..data a link to a directory that a writer replaces whole: reading
// both files from one resolution of ..data reads one pair, however often
// the link is swapped meanwhile, as the kubelet's atomic writer intends.
// Reading the two links one after the other instead can see a certificate
// and a key from different pairs. Files outside that layout (written in
// place, as a user may in provided mode) are read as they are.
func (w *Watcher) read() (certPEM, keyPEM []byte, err error) {
	dir, certName, keyName, linked := dataLinked(w.certFile, w.keyFile)
	if !linked {
		if certPEM, err = w.readFile(w.certFile); err != nil {
			return nil, nil, err
		}
		keyPEM, err = w.readFile(w.keyFile)
		return certPEM, keyPEM, err
	}
	target, err := os.Readlink(filepath.Join(dir, dataLink))
	if err != nil {
		return nil, nil, err
	}
	// A writer removes the directory it replaced, so a resolution can go
	// stale between the readlink and the reads: that shows as a missing
	// file while ..data names another directory, and means a newer pair
	// is complete. Each round is one finished swap, so few are needed.
	for range 8 {
		data := target
		if !filepath.IsAbs(data) {
			data = filepath.Join(dir, data)
		}
		certPEM, err = w.readFile(filepath.Join(data, certName))
		if err == nil {
			keyPEM, err = w.readFile(filepath.Join(data, keyName))
		}
		if err == nil || !errors.Is(err, os.ErrNotExist) {
			return certPEM, keyPEM, err
		}
		now, lerr := os.Readlink(filepath.Join(dir, dataLink))
		if lerr != nil || now == target {
			return nil, nil, err
		}
		target = now
	}
	return nil, nil, errSwapping
}

// errSwapping is a read that found ..data replaced at every resolution: a
// writer is busy, not a bad pair; the next poll reads what it settled on.
var errSwapping = errors.New("the certificate directory kept changing while being read")

// dataLinked reports whether certFile and keyFile are links through the
// ..data link of their common directory, and the names they take in the
// directory it points to.
func dataLinked(certFile, keyFile string) (dir, certName, keyName string, ok bool) {
	dir = filepath.Dir(certFile)
	if filepath.Dir(keyFile) != dir {
		return "", "", "", false
	}
	name := func(file string) (string, bool) {
		target, err := os.Readlink(file)
		if err != nil {
			return "", false
		}
		rest, ok := strings.CutPrefix(filepath.Clean(target), dataLink+string(filepath.Separator))
		return rest, ok && rest != "" && !strings.Contains(rest, "..")
	}
	certName, ok1 := name(certFile)
	keyName, ok2 := name(keyFile)
	return dir, certName, keyName, ok1 && ok2
}

// Checker is a readiness check: it fails until a certificate that is valid
// now is being served.
func (w *Watcher) Checker(*http.Request) error {
	w.mu.RLock()
	cur := w.current
	w.mu.RUnlock()
	if cur == nil {
		return fmt.Errorf("no serving certificate loaded from %s", w.certFile)
	}
	now := w.clock.Now()
	if leaf := cur.Leaf; !usable(leaf, now) {
		return fmt.Errorf("serving certificate not valid now (valid %s to %s)", stamp(leaf.NotBefore), stamp(leaf.NotAfter))
	}
	return nil
}
