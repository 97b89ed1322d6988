package certs

import (
	"crypto/x509"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The self-managed Secret is a kubernetes.io/tls Secret, so anything that
// reads TLS Secrets can use it, plus the CA.
const (
	// SecretCAKey holds the CA bundle: the current CA first, then any
	// previous one still trusted during a rollover. It is exactly what goes
	// into the webhook configurations' caBundle.
	SecretCAKey = "ca.crt"
	// SecretCAPrivateKey holds the current CA's private key.
	SecretCAPrivateKey = "ca.key"
	// CAInjectedAtAnnotation records, on the Secret, when the current CA was
	// first seen in the caBundle of every webhook configuration (RFC 3339).
	CAInjectedAtAnnotation = "daemonguard.io/ca-injected-at"
	// ManagedByLabel marks the Secret as daemonguard's.
	ManagedByLabel = "app.kubernetes.io/managed-by"
)

// ParseSecret reads the bundle stored in s (nil: none). Parts that are
// missing or do not parse are left empty, to be replaced; problems says
// what was wrong with them, for logs.
func ParseSecret(s *corev1.Secret) (b *Bundle, problems []string) {
	b = &Bundle{}
	if s == nil {
		return b, nil
	}
	var cas []*x509.Certificate
	if raw := s.Data[SecretCAKey]; len(raw) > 0 {
		var err error
		if cas, err = ParseCertificates(raw); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", SecretCAKey, err))
		}
	}
	if raw := s.Data[SecretCAPrivateKey]; len(raw) > 0 && len(cas) > 0 {
		key, err := parsePrivateKey(raw)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", SecretCAPrivateKey, err))
		}
		for i, c := range cas {
			if key != nil && c.IsCA && publicKeysEqual(c.PublicKey, key.Public()) {
				b.CA = &KeyPair{Cert: c, Key: key, CertPEM: EncodeCertificates(c), KeyPEM: raw}
				cas = append(cas[:i:i], cas[i+1:]...)
				break
			}
		}
		if b.CA == nil && key != nil {
			problems = append(problems, fmt.Sprintf("%s matches no CA in %s", SecretCAPrivateKey, SecretCAKey))
		}
	}
	// Without its key a CA can still vouch for the certificates it signed.
	b.Previous = cas
	if crt, key := s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]; len(crt) > 0 || len(key) > 0 {
		kp, err := ParseKeyPair(crt, key)
		if err != nil {
			problems = append(problems, fmt.Sprintf("serving certificate: %v", err))
		}
		b.Serving = kp
	}
	if v := s.Annotations[CAInjectedAtAnnotation]; v != "" && b.CA != nil {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("annotation %s: %v", CAInjectedAtAnnotation, err))
		}
		b.CAInjectedAt = t
	}
	return b, problems
}

// CABundle is the PEM CA bundle for the webhook configurations.
func (b *Bundle) CABundle() []byte { return EncodeCertificates(b.Trusted()...) }

// WriteTo stores b in s (Data, the annotation, and the type of a new
// Secret: the type of an existing one cannot change), leaving the rest of s
// alone.
func (b *Bundle) WriteTo(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeTLS
	}
	data := map[string][]byte{SecretCAKey: b.CABundle()}
	if b.CA != nil {
		data[SecretCAPrivateKey] = b.CA.KeyPEM
	}
	if b.Serving != nil {
		data[corev1.TLSCertKey] = b.Serving.CertPEM
		data[corev1.TLSPrivateKeyKey] = b.Serving.KeyPEM
	} else {
		// A kubernetes.io/tls Secret must have both keys.
		data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey] = []byte{}, []byte{}
	}
	s.Data = data
	if b.CAInjectedAt.IsZero() {
		delete(s.Annotations, CAInjectedAtAnnotation)
	} else {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[CAInjectedAtAnnotation] = b.CAInjectedAt.UTC().Format(time.RFC3339Nano)
	}
}
