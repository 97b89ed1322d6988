package faults

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
)

// hostile counts what the flood clients saw.
type hostile struct {
	idleConns, slowlorisConns     atomic.Int64
	hugeRefused, hugeOther        atomic.Int64
	endlessRefused, endlessOther  atomic.Int64
	badTLS                        atomic.Int64
	undecodable, admitted, non200 atomic.Int64
	mu                            sync.Mutex
	notes                         []string
}

func (h *hostile) note(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.notes) < 10 {
		h.notes = append(h.notes, fmt.Sprintf(format, args...))
	}
}

// TestHostileClients floods one replica's webhook port — the only endpoint
// the API server has — with idle connections, slowloris headers, 64 MiB and
// endless bodies, malformed TLS and undecodable reviews, while the API server
// keeps sending its own reviews. Its calls must all be answered within the
// webhook timeout, the process must stay within 100 MiB of its size before
// the flood, and nothing undecodable may be admitted.
func TestHostileClients(t *testing.T) {
	r := replicas(t, 1, replicaOptions{})[0]
	l := startLoad(t, 2)
	time.Sleep(pick(time.Second, 3*time.Second))
	_, baseline := r.memory(t)

	addr := fmt.Sprintf("127.0.0.1:%d", r.port)
	tlsCfg := &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
	floodFor := pick(8*time.Second, 90*time.Second)
	stop := make(chan struct{})
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var h hostile
	var wg sync.WaitGroup
	spawn := func(n int, f func(i int)) {
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				for !stopped() {
					f(i)
				}
			}(i)
		}
	}
	// hold keeps conn open until the server closes it or the flood ends.
	hold := func(conn net.Conn) {
		done := make(chan struct{})
		go func() {
			_, _ = io.Copy(io.Discard, conn)
			close(done)
		}()
		select {
		case <-done:
		case <-stop:
		}
		conn.Close()
	}

	// 1000 idle TCP connections: connect, say nothing, reconnect when cut.
	spawn(1000, func(int) {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			return
		}
		h.idleConns.Add(1)
		hold(conn)
	})
	// 100 slowloris clients: a complete TLS handshake, then a header byte
	// every 100ms, never finishing.
	spawn(100, func(int) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, tlsCfg)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			return
		}
		defer conn.Close()
		h.slowlorisConns.Add(1)
		header := "POST /validate-apps-v1-daemonset HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Slow: " + strings.Repeat("a", 1<<16)
		for i := 0; i < len(header) && !stopped(); i++ {
			if _, err := conn.Write([]byte{header[i]}); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	// A few clients sending 64 MiB bodies, as fast as they can.
	spawn(4, func(int) {
		code, err := post(addr, tlsCfg, "Content-Length: 67108864\r\n", io.LimitReader(zeros{}, 64<<20))
		switch {
		case code == http.StatusRequestEntityTooLarge:
			h.hugeRefused.Add(1)
		case code == 0 && err != nil:
			h.hugeRefused.Add(1) // cut off while sending; nothing answered
		default:
			h.hugeOther.Add(1)
			h.note("64 MiB body: HTTP %d %v", code, err)
		}
	})
	// Endless chunked bodies.
	spawn(4, func(int) {
		code, err := post(addr, tlsCfg, "Transfer-Encoding: chunked\r\n", endlessChunks{stop: stop})
		switch {
		case code == http.StatusLengthRequired || (code == 0 && err != nil):
			h.endlessRefused.Add(1)
		default:
			h.endlessOther.Add(1)
			h.note("endless body: HTTP %d %v", code, err)
		}
	})
	// Malformed TLS: random bytes, and a record header announcing 64 KiB
	// that never comes.
	spawn(10, func(i int) {
		conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			return
		}
		junk := make([]byte, 4096)
		_, _ = rand.Read(junk)
		if i%2 == 0 {
			junk = []byte{0x16, 0x03, 0x01, 0xff, 0xff, 0x01}
		}
		_, _ = conn.Write(junk)
		h.badTLS.Add(1)
		hold(conn)
		time.Sleep(20 * time.Millisecond)
	})
	// Undecodable reviews, well framed: each must be refused or denied.
	bad := undecodableReviews()
	spawn(2, func(i int) {
		body := bad[int(h.undecodable.Add(1))%len(bad)]
		c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
		defer c.CloseIdleConnections()
		path := []string{"/validate-apps-v1-daemonset", "/mutate-apps-v1-daemonset"}[i%2]
		resp, err := c.Post("https://"+addr+path, "application/json", bytes.NewReader(body))
		if err != nil {
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			h.non200.Add(1)
			return
		}
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || review.Response == nil {
			h.note("undecodable review answered 200 with %v", err)
			h.admitted.Add(1) // an unreadable answer counts against us
			return
		}
		if review.Response.Allowed {
			h.admitted.Add(1)
			h.note("admitted undecodable review %.80q", body)
		}
	})

	// Sample memory while the flood runs.
	var peakRSS int64
	deadline := time.Now().Add(floodFor)
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		_, rss := r.memory(t)
		peakRSS = max(peakRSS, rss)
		if r.exited() {
			t.Fatalf("replica died under the flood: %v (log %s)", r.exitErr, r.logPath)
		}
	}
	close(stop)
	wg.Wait()
	hwm, _ := r.memory(t)
	time.Sleep(pick(500*time.Millisecond, 5*time.Second))
	l.finish()
	failed := l.report(t)
	total := l.ok.Load() + failed
	growth := hwm - baseline

	for _, n := range h.notes {
		t.Log(n)
	}
	mib := func(b int64) string { return fmt.Sprintf("%.1f", float64(b)/(1<<20)) }
	bench(t, "hostile_api_requests", total)
	bench(t, "hostile_api_failed", failed)
	bench(t, "hostile_api_max_latency_ms", time.Duration(l.maxLatency.Load()).Milliseconds())
	bench(t, "hostile_idle_connections_opened", h.idleConns.Load())
	bench(t, "hostile_slowloris_connections_opened", h.slowlorisConns.Load())
	bench(t, "hostile_64MiB_bodies_refused", h.hugeRefused.Load())
	bench(t, "hostile_endless_bodies_refused", h.endlessRefused.Load())
	bench(t, "hostile_malformed_tls", h.badTLS.Load())
	bench(t, "hostile_undecodable_sent", h.undecodable.Load())
	bench(t, "hostile_undecodable_admitted", h.admitted.Load())
	bench(t, "hostile_rss_before_MiB", mib(baseline))
	bench(t, "hostile_rss_peak_sampled_MiB", mib(peakRSS))
	bench(t, "hostile_vmhwm_MiB", mib(hwm))
	bench(t, "hostile_growth_MiB", mib(growth))

	if failed != 0 {
		t.Errorf("%d of %d API server admission calls failed under the flood; want 0", failed, total)
	}
	if max := time.Duration(l.maxLatency.Load()); max >= apiTimeout {
		t.Errorf("slowest API server call took %s, beyond the webhook timeout %s", max, apiTimeout)
	}
	if total < 20 {
		t.Errorf("only %d API server calls made during the flood", total)
	}
	if growth > 100<<20 {
		t.Errorf("the serve process grew by %s MiB under the flood (VmHWM %s MiB, before %s MiB); want under 100", mib(growth), mib(hwm), mib(baseline))
	}
	if h.admitted.Load() != 0 {
		t.Errorf("%d undecodable reviews admitted", h.admitted.Load())
	}
	if h.hugeOther.Load() != 0 || h.endlessOther.Load() != 0 {
		t.Errorf("oversized or endless bodies got other answers than 413/411: %d, %d", h.hugeOther.Load(), h.endlessOther.Load())
	}
	if h.idleConns.Load() < 1000 || h.slowlorisConns.Load() < 100 || h.hugeRefused.Load() == 0 || h.endlessRefused.Load() == 0 || h.undecodable.Load() == 0 {
		t.Errorf("the flood did not run in full: %d idle, %d slowloris, %d huge, %d endless, %d undecodable",
			h.idleConns.Load(), h.slowlorisConns.Load(), h.hugeRefused.Load(), h.endlessRefused.Load(), h.undecodable.Load())
	}
	if code := r.readyz(); code != http.StatusOK {
		t.Errorf("replica not ready after the flood: /readyz %d", code)
	}
}

// post sends a raw POST with the given framing header and body, and returns
// the response status (0 if none came) and the first error.
func post(addr string, cfg *tls.Config, framing string, body io.Reader) (int, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	status := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	head := "POST /validate-apps-v1-daemonset HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + framing + "\r\n"
	_, werr := io.Copy(conn, io.MultiReader(strings.NewReader(head), body))
	if werr != nil {
		return <-status, werr
	}
	return <-status, nil
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// endlessChunks is a chunked body that never ends (until stop).
type endlessChunks struct{ stop chan struct{} }

func (e endlessChunks) Read(p []byte) (int, error) {
	select {
	case <-e.stop:
		return 0, io.EOF
	default:
	}
	chunk := "1000\r\n" + strings.Repeat("{", 0x1000) + "\r\n"
	return copy(p, chunk), nil
}

// undecodableReviews are well-framed bodies no review decoder can make a
// DaemonSet of.
func undecodableReviews() [][]byte {
	review := func(object string) []byte {
		return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"apps","version":"v1","kind":"DaemonSet"},"resource":{"group":"apps","version":"v1","resource":"daemonsets"},"operation":"CREATE","namespace":"default","object":` + object + `}}`)
	}
	return [][]byte{
		[]byte(`not json at all`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":`),
		review(`{"spec":{"template":{"spec":{"containers":"no"}}}}`),
		review(`{"spec":{"template":{"spec":{"hostPID":"yes","containers":[{"name":"c","image":"i","securityContext":{"privileged":true}}]}}}}`),
		review(`"a string"`),
		review(`{"spec":{"template":{"spec":{"volumes":[{"name":"v","hostPath":{"path":7}}],"containers":[{"name":"c","image":"i","volumeMounts":[{"name":"v","mountPath":"/x"}]}]}}}}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u2"}}`),
		append(review(`{"metadata":{"name":"x"}}`)[:120], bytes.Repeat([]byte(" "), 6<<20)...),
	}
}
