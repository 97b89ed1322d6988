package certs

import (
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func mustCA(t testing.TB, now time.Time, validity time.Duration) *KeyPair {
	t.Helper()
	ca, err := NewCA("test-ca", now, validity)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func mustServing(t testing.TB, ca *KeyPair, names ServingNames, now time.Time, validity time.Duration) *KeyPair {
	t.Helper()
	s, err := NewServing(ca, names, now, validity)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var testNames = ServingNames{
	DNSNames: []string{"daemonguard.system.svc", "daemonguard.system", "daemonguard"},
	IPs:      []net.IP{net.ParseIP("127.0.0.1")},
}

// verify is the check the API server makes of a webhook's certificate.
func verify(leaf *x509.Certificate, at time.Time, name string, roots ...*x509.Certificate) error {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	_, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

func TestNewCA(t *testing.T) {
	ca := mustCA(t, t0, 24*time.Hour)
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid || c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("not a CA: IsCA=%v usage=%v", c.IsCA, c.KeyUsage)
	}
	if !c.MaxPathLenZero || c.MaxPathLen != 0 {
		t.Errorf("a CA for leaves only should have path length 0, got %d", c.MaxPathLen)
	}
	if want := t0.Add(-MaxClockSkew); !c.NotBefore.Equal(want) {
		t.Errorf("NotBefore = %v, want %v (backdated by MaxClockSkew)", c.NotBefore, want)
	}
	if want := t0.Add(24 * time.Hour); !c.NotAfter.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", c.NotAfter, want)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	kp, err := ParseKeyPair(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatalf("PEM round trip: %v", err)
	}
	if !kp.Cert.Equal(c) {
		t.Error("PEM round trip changed the certificate")
	}
}

func TestNewServing(t *testing.T) {
	ca := mustCA(t, t0, 365*24*time.Hour)
	s := mustServing(t, ca, testNames, t0, 90*24*time.Hour)
	if s.Cert.Subject.CommonName != "daemonguard.system.svc" {
		t.Errorf("CommonName = %q", s.Cert.Subject.CommonName)
	}
	if s.Cert.IsCA {
		t.Error("a serving certificate must not be a CA")
	}
	for _, name := range []string{"daemonguard.system.svc", "daemonguard", "127.0.0.1"} {
		if err := verify(s.Cert, t0, name, ca.Cert); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if err := verify(s.Cert, t0, "other.system.svc", ca.Cert); err == nil {
		t.Error("verified for a name not on the certificate")
	}
	if err := verify(s.Cert, t0, "daemonguard.system.svc", mustCA(t, t0, time.Hour).Cert); err == nil {
		t.Error("verified against a CA that did not sign it")
	}
	if _, err := ParseKeyPair(s.CertPEM, ca.KeyPEM); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched key: got %v", err)
	}
}

// An API server whose clock is behind ours must accept a certificate we
// just issued: issuance backdates NotBefore by MaxClockSkew.
func TestNewServingClockSkew(t *testing.T) {
	ca := mustCA(t, t0, 365*24*time.Hour)
	s := mustServing(t, ca, testNames, t0, time.Hour)
	behind := t0.Add(-MaxClockSkew + time.Second)
	if err := verify(s.Cert, behind, "daemonguard", ca.Cert); err != nil {
		t.Errorf("an API server %v behind rejects a fresh certificate: %v", MaxClockSkew-time.Second, err)
	}
	if err := verify(s.Cert, t0.Add(-MaxClockSkew-time.Minute), "daemonguard", ca.Cert); err == nil {
		t.Error("accepted before NotBefore")
	}
	if err := verify(s.Cert, t0.Add(time.Hour+time.Second), "daemonguard", ca.Cert); err == nil {
		t.Error("accepted after expiry")
	}
}

// A serving certificate never outlives its CA.
func TestNewServingClampedToCA(t *testing.T) {
	ca := mustCA(t, t0, 10*24*time.Hour)
	s := mustServing(t, ca, testNames, t0, 90*24*time.Hour)
	if !s.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("NotAfter = %v, want the CA's %v", s.Cert.NotAfter, ca.Cert.NotAfter)
	}
}

func TestNewServingErrors(t *testing.T) {
	ca := mustCA(t, t0, time.Hour)
	for name, tc := range map[string]struct {
		ca       *KeyPair
		names    ServingNames
		validity time.Duration
	}{
		"no CA":            {nil, testNames, time.Hour},
		"no names":         {ca, ServingNames{}, time.Hour},
		"no validity":      {ca, testNames, 0},
		"negative validty": {ca, testNames, -time.Hour},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewServing(tc.ca, tc.names, t0, tc.validity); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestParseCertificates(t *testing.T) {
	a, b := mustCA(t, t0, time.Hour), mustCA(t, t0, time.Hour)
	got, err := ParseCertificates(EncodeCertificates(a.Cert, b.Cert))
	if err != nil || len(got) != 2 || !got[0].Equal(a.Cert) || !got[1].Equal(b.Cert) {
		t.Fatalf("round trip of two: %v, %d certificates", err, len(got))
	}
	for name, in := range map[string]string{
		"empty":      "",
		"garbage":    "not pem",
		"only a key": string(a.KeyPEM),
		"bad DER":    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	} {
		if _, err := ParseCertificates([]byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
