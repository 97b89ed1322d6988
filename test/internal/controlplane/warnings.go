package controlplane

import "sync"

// WarningRecorder collects the Warning headers the API server relays (set
// it as a rest.Config's WarningHandler), for suites that assert on what
// kubectl would print.
type WarningRecorder struct {
	mu   sync.Mutex
	seen []string
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *WarningRecorder) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen = append(w.seen, text)
}

// Take returns and clears the warnings seen so far.
func (w *WarningRecorder) Take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.seen
	w.seen = nil
	return out
}
