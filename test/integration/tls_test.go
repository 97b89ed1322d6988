package integration

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
)

// The webhook's TLS: at least 1.2, and HTTP/1.1 only unless --enable-http2
// (the HTTP/2 Rapid Reset CVEs).
func TestWebhookTLS(t *testing.T) {
	addr, ca := env.WebhookAddress()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		t.Fatal("no CA")
	}
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatalf("TLS handshake with the webhook: %v", err)
	}
	state := conn.ConnectionState()
	conn.Close()
	if state.NegotiatedProtocol == "h2" {
		t.Fatal("HTTP/2 was negotiated; it must be off by default")
	}
	if state.Version < tls.VersionTLS12 {
		t.Fatalf("negotiated TLS version %x", state.Version)
	}
	// The client must offer 1.1 for real (Go clients default to 1.2 at least),
	// so that the refusal is the server's.
	_, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		t.Fatal("a TLS 1.1 client was accepted")
	}
	if !strings.Contains(err.Error(), "protocol version") {
		t.Fatalf("want the server to refuse the protocol version, got %v", err)
	}
}
