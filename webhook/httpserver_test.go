package webhook

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"
)

// Bodies the API server never sends are refused before a byte of them is
// read: too large by Content-Length (413), or without one (411).
func TestLimitBody(t *testing.T) {
	reached := false
	h := limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write(b)
	}), 10, nil, 0)
	cases := map[string]struct {
		body   io.Reader
		length int64
		want   int
	}{
		"within the limit": {strings.NewReader("0123456789"), 10, http.StatusOK},
		"over the limit":   {strings.NewReader("0123456789x"), 11, http.StatusRequestEntityTooLarge},
		"unknown length":   {io.MultiReader(strings.NewReader("endless")), -1, http.StatusLengthRequired},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			reached = false
			r := httptest.NewRequest(http.MethodPost, MutatePath, tc.body)
			r.ContentLength = tc.length
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if reached != (tc.want == http.StatusOK) {
				t.Errorf("handler reached = %v for status %d", reached, w.Code)
			}
		})
	}
}

// At the cap, a new connection displaces the oldest one that never carried
// a request; when every connection has been served, the new one is refused.
func TestConnLimiterEvictsUnservedFirst(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimiter(ln, 2)
	defer l.Close()
	accepted := make(chan *trackedConn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c.(*trackedConn)
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	next := func() *trackedConn {
		select {
		case c := <-accepted:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no connection accepted")
			return nil
		}
	}
	idleClient := dial()
	idle := next()
	dial()
	servedConn := next()
	servedConn.served.Store(true)
	if n := l.open(); n != 2 {
		t.Fatalf("%d open, want 2", n)
	}
	dial()
	third := next()
	// The idle one was evicted: its client sees the close.
	_ = idleClient.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idleClient.Read(make([]byte, 1)); err == nil {
		t.Error("the idle connection was not closed")
	}
	if n := l.open(); n != 2 {
		t.Errorf("%d open after eviction, want 2", n)
	}
	_ = idle
	third.served.Store(true)
	refused := dial()
	_ = refused.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := refused.Read(make([]byte, 1)); err == nil {
		t.Error("a connection beyond the cap of served connections was kept open")
	}
	if n := l.open(); n != 2 {
		t.Errorf("%d open, want 2", n)
	}
}

// Large bodies wait for room in the in-flight budget and are turned away
// with 503 and Retry-After when none comes; small ones never wait.
func TestLimitBodyBudget(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	h := limitBody(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		if r.ContentLength > smallBodyBytes {
			<-release
		}
		_, _ = io.Copy(io.Discard, r.Body)
	}), 1<<20, semaphore.NewWeighted(200<<10), 200<<10)
	send := func(size int) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, ValidatePath, strings.NewReader(strings.Repeat("x", size)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	first := make(chan int)
	go func() { first <- send(150 << 10).Code }()
	<-entered
	start := time.Now()
	if w := send(150 << 10); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("second large body: %d %v, want 503 with Retry-After", w.Code, w.Header())
	}
	if waited := time.Since(start); waited < bodyWait/2 {
		t.Errorf("refused after %s, want a wait of about %s first", waited, bodyWait)
	}
	if w := send(1 << 10); w.Code != http.StatusOK {
		t.Errorf("small body while the budget is spent: %d, want 200", w.Code)
	}
	close(release)
	if code := <-first; code != http.StatusOK {
		t.Errorf("first large body: %d", code)
	}
}
