// Package certs keeps the webhook's serving certificate valid and trusted.
//
// The API server only calls a webhook whose certificate chains to the
// caBundle in its webhook configuration, so a certificate that expires, or
// a CA that changes without the caBundle following, fails every admission
// call. Three modes cover the ways a cluster provides certificates:
//
//   - files: serve whatever is in the certificate directory, reloading it
//     when it changes. cert-manager (its Secret mounted as a volume, the
//     caBundle injected by its CA injector) and user-provided files both use
//     this mode. See Watcher.
//   - self-managed: the webhook is its own CA. Rotator creates a CA and a
//     serving certificate, stores them in a Secret, writes the CA bundle into
//     the webhook configurations, renews both before they expire, and writes
//     the pair into the certificate directory, which Watcher serves.
//
// Renewal decisions are pure functions of the stored state and a time
// (Decide), so they are tested without a cluster or a real clock.
package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// MaxClockSkew is how far apart clocks may be (this replica, other replicas,
// the API server) without a certificate being judged unusable. New
// certificates are backdated by this much, so an API server whose clock is
// behind ours still accepts them; a certificate that starts at most this far
// in the future is still taken as valid, so a replica whose clock is behind
// does not replace what a replica whose clock is ahead just issued.
const MaxClockSkew = 5 * time.Minute

// KeyPair is a certificate with its private key.
type KeyPair struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM and KeyPEM are Cert and Key, PEM-encoded.
	CertPEM, KeyPEM []byte
}

// NewCA creates a self-signed CA certificate valid for validity from now.
func NewCA(commonName string, now time.Time, validity time.Duration) (*KeyPair, error) {
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// The CA signs only leaf certificates.
		MaxPathLenZero: true,
	}
	return issue(tmpl, nil, now, validity)
}

// ServingNames are the names a serving certificate is issued for.
type ServingNames struct {
	DNSNames []string
	IPs      []net.IP
}

// NewServing creates a serving certificate for names, signed by ca and valid
// for validity from now, but never beyond ca's own expiry: a certificate
// outliving its CA would look valid and fail verification.
func NewServing(ca *KeyPair, names ServingNames, now time.Time, validity time.Duration) (*KeyPair, error) {
	if ca == nil {
		return nil, errors.New("no CA to sign the serving certificate")
	}
	if len(names.DNSNames) == 0 && len(names.IPs) == 0 {
		return nil, errors.New("a serving certificate needs at least one DNS name or IP address")
	}
	cn := ""
	if len(names.DNSNames) > 0 {
		cn = names.DNSNames[0]
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn},
		DNSNames:    slices.Clone(names.DNSNames),
		IPAddresses: slices.Clone(names.IPs),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return issue(tmpl, ca, now, validity)
}

func issue(tmpl *x509.Certificate, parent *KeyPair, now time.Time, validity time.Duration) (*KeyPair, error) {
	if validity <= 0 {
		return nil, fmt.Errorf("validity must be positive, got %v", validity)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	// Whole seconds: x509 times have no finer resolution, and truncating
	// here keeps NotAfter exactly what the decisions below compute with.
	now = now.Truncate(time.Second)
	tmpl.NotBefore = now.Add(-MaxClockSkew)
	tmpl.NotAfter = now.Add(validity)
	signer, parentCert := crypto.Signer(key), tmpl
	if parent != nil {
		signer, parentCert = parent.Key, parent.Cert
		if tmpl.NotAfter.After(parent.Cert.NotAfter) {
			tmpl.NotAfter = parent.Cert.NotAfter
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

// ParseKeyPair parses a PEM certificate (the first one, when there are
// several) and its PEM private key, and checks that they belong together.
func ParseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	certs, err := ParseCertificates(certPEM)
	if err != nil {
		return nil, err
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(certs[0].PublicKey, key.Public()) {
		return nil, errors.New("private key does not match the certificate")
	}
	return &KeyPair{Cert: certs[0], Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// ParseCertificates parses every CERTIFICATE block in data; it fails when
// there is none or one does not parse.
func ParseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}

// EncodeCertificates PEM-encodes certs, in order.
func EncodeCertificates(certs ...*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

func parsePrivateKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key found")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM block %q for a private key", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}

// signedBy reports whether cert's signature verifies with ca's key; it is
// the chain test the API server makes, short of the time checks.
func signedBy(cert, ca *x509.Certificate) bool {
	return cert != nil && ca != nil && cert.CheckSignatureFrom(ca) == nil
}

// Fingerprint is the hex SHA-256 of a certificate, for logs.
func Fingerprint(c *x509.Certificate) string {
	if c == nil {
		return ""
	}
	sum := sha256.Sum256(c.Raw)
	return fmt.Sprintf("%x", sum[:8])
}
