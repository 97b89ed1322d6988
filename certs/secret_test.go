package certs

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestSecretRoundTrip(t *testing.T) {
	prev := mustCA(t, t0.Add(-day), 10*day)
	ca := mustCA(t, t0, 100*day)
	b := &Bundle{CA: ca, Previous: []*x509.Certificate{prev.Cert}, Serving: mustServing(t, prev, testNames, t0, day), CAInjectedAt: t0.Add(time.Minute)}
	s := &corev1.Secret{}
	b.WriteTo(s)
	if s.Type != corev1.SecretTypeTLS {
		t.Errorf("type %q", s.Type)
	}
	for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, SecretCAKey, SecretCAPrivateKey} {
		if len(s.Data[k]) == 0 {
			t.Errorf("no %s", k)
		}
	}
	got, problems := ParseSecret(s)
	if len(problems) > 0 {
		t.Fatalf("problems: %q", problems)
	}
	if !got.CA.Cert.Equal(ca.Cert) || len(got.Previous) != 1 || !got.Previous[0].Equal(prev.Cert) ||
		!got.Serving.Cert.Equal(b.Serving.Cert) || !got.CAInjectedAt.Equal(b.CAInjectedAt) {
		t.Errorf("round trip changed the bundle")
	}
	// The decision on the stored bundle is the decision on the original.
	if a, c := Decide(b, testNames, testLifetimes, t0), Decide(got, testNames, testLifetimes, t0); a.Changed() != c.Changed() {
		t.Errorf("decisions differ: %q vs %q", a.Reasons, c.Reasons)
	}

	// A new CA clears the annotation.
	(&Bundle{CA: ca}).WriteTo(s)
	if _, ok := s.Annotations[CAInjectedAtAnnotation]; ok {
		t.Error("annotation kept for a CA never injected")
	}
	if _, ok := s.Data[corev1.TLSCertKey]; !ok {
		t.Error("a kubernetes.io/tls Secret needs tls.crt even when empty")
	}

	// An existing Secret's type is immutable and kept.
	opaque := &corev1.Secret{Type: corev1.SecretTypeOpaque}
	b.WriteTo(opaque)
	if opaque.Type != corev1.SecretTypeOpaque {
		t.Error("type of an existing Secret changed")
	}
}

func TestParseSecretDamaged(t *testing.T) {
	ca := mustCA(t, t0, 100*day)
	other := mustCA(t, t0, 100*day)
	serving := mustServing(t, ca, testNames, t0, day)
	good := func() *corev1.Secret {
		s := &corev1.Secret{}
		(&Bundle{CA: ca, Serving: serving, CAInjectedAt: t0}).WriteTo(s)
		return s
	}
	for name, tc := range map[string]struct {
		mod                  func(*corev1.Secret)
		wantCA, wantServing  bool
		wantPrevious         int
		wantProblem          string
		wantInjectedAtParsed bool
	}{
		"none":           {mod: func(*corev1.Secret) {}, wantCA: true, wantServing: true, wantInjectedAtParsed: true},
		"CA key removed": {mod: func(s *corev1.Secret) { delete(s.Data, SecretCAPrivateKey) }, wantServing: true, wantPrevious: 1},
		"CA key of another CA": {
			mod:         func(s *corev1.Secret) { s.Data[SecretCAPrivateKey] = other.KeyPEM },
			wantServing: true, wantPrevious: 1, wantProblem: "matches no CA",
		},
		"CA garbage":          {mod: func(s *corev1.Secret) { s.Data[SecretCAKey] = []byte("x") }, wantServing: true, wantProblem: SecretCAKey},
		"serving key swapped": {mod: func(s *corev1.Secret) { s.Data[corev1.TLSPrivateKeyKey] = ca.KeyPEM }, wantCA: true, wantProblem: "serving certificate", wantInjectedAtParsed: true},
		"serving emptied": {mod: func(s *corev1.Secret) {
			s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey] = nil, nil
		}, wantCA: true, wantInjectedAtParsed: true},
		"bad annotation": {mod: func(s *corev1.Secret) { s.Annotations[CAInjectedAtAnnotation] = "yesterday" }, wantCA: true, wantServing: true, wantProblem: "annotation"},
	} {
		t.Run(name, func(t *testing.T) {
			s := good()
			tc.mod(s)
			b, problems := ParseSecret(s)
			if (b.CA != nil) != tc.wantCA || (b.Serving != nil) != tc.wantServing || len(b.Previous) != tc.wantPrevious {
				t.Errorf("CA %v serving %v previous %d", b.CA != nil, b.Serving != nil, len(b.Previous))
			}
			if tc.wantProblem == "" && len(problems) > 0 || tc.wantProblem != "" && !strings.Contains(strings.Join(problems, ";"), tc.wantProblem) {
				t.Errorf("problems %q, want one about %q", problems, tc.wantProblem)
			}
			if b.CAInjectedAt.IsZero() == tc.wantInjectedAtParsed {
				t.Errorf("CAInjectedAt = %v", b.CAInjectedAt)
			}
			// Whatever the damage, a decision repairs it.
			p := Decide(b, testNames, testLifetimes, t0)
			next, err := p.Apply(b, testNames, testLifetimes, t0, "repair")
			if err != nil {
				t.Fatal(err)
			}
			if next.CA == nil || next.Serving == nil || !signedByAny(next.Serving.Cert, next.Trusted()) {
				t.Errorf("not repaired by %q", p.Reasons)
			}
		})
	}
	if b, problems := ParseSecret(nil); b.CA != nil || b.Serving != nil || problems != nil {
		t.Error("a missing Secret is an empty bundle")
	}
}
