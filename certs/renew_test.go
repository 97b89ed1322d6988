package certs

import (
	"crypto/x509"
	"net"
	"slices"
	"testing"
	"time"
)

const (
	hour = time.Hour
)

var testLifetimes = Lifetimes{
	CAValidity: 3650 * day, CARenewBefore: 365 * day,
	Validity: 90 * day, RenewBefore: 30 * day,
	RolloverDelay: 2 * time.Minute,
}

func TestDecide(t *testing.T) {
	l := testLifetimes
	// The CA and serving certificates are issued at t0 unless a case says
	// otherwise; each case picks its own "now".
	ca := mustCA(t, t0, l.CAValidity)
	serving := mustServing(t, ca, testNames, t0, l.Validity)
	// A CA due for renewal at t0 (issued 9.5 years before), and a rollover
	// started at t0: newCA current, oldCA previous, serving still from oldCA.
	oldCA := mustCA(t, t0.Add(-3467*day), l.CAValidity)
	oldServing := mustServing(t, oldCA, testNames, t0.Add(-10*day), l.Validity)
	newCA := mustCA(t, t0, l.CAValidity)
	strangerCA := mustCA(t, t0, l.CAValidity)
	strangerServing := mustServing(t, strangerCA, testNames, t0, l.Validity)
	otherNames := mustServing(t, ca, ServingNames{DNSNames: []string{"old-name.system.svc"}}, t0, l.Validity)
	// Issued by replicas whose clocks are ahead of ours.
	aheadServing := func(ahead time.Duration) *KeyPair { return mustServing(t, ca, testNames, t0.Add(ahead), l.Validity) }
	futureCA := mustCA(t, t0.Add(hour), l.CAValidity)

	type want struct {
		newCA, keepCA, newServing bool
		drop                      []*x509.Certificate
	}
	for name, tc := range map[string]struct {
		b    Bundle
		now  time.Time
		want want
	}{
		"empty Secret": {
			b: Bundle{}, now: t0,
			want: want{newCA: true, newServing: true},
		},
		"fresh": {
			b: Bundle{CA: ca, Serving: serving, CAInjectedAt: t0}, now: t0.Add(time.Minute),
		},
		"serving not yet due": {
			b: Bundle{CA: ca, Serving: serving, CAInjectedAt: t0}, now: t0.Add(60*day - time.Second),
		},
		"serving due for renewal": {
			b: Bundle{CA: ca, Serving: serving, CAInjectedAt: t0}, now: t0.Add(60 * day),
			want: want{newServing: true},
		},
		"serving expired": {
			b: Bundle{CA: ca, Serving: serving, CAInjectedAt: t0}, now: t0.Add(91 * day),
			want: want{newServing: true},
		},
		"serving key lost": {
			b: Bundle{CA: ca, CAInjectedAt: t0}, now: t0,
			want: want{newServing: true},
		},
		"serving names changed": {
			b: Bundle{CA: ca, Serving: otherNames, CAInjectedAt: t0}, now: t0,
			want: want{newServing: true},
		},
		"serving signed by an unknown CA": {
			b: Bundle{CA: ca, Serving: strangerServing, CAInjectedAt: t0}, now: t0,
			want: want{newServing: true},
		},
		"CA due: rollover starts, serving stays on the old CA": {
			b: Bundle{CA: oldCA, Serving: oldServing, CAInjectedAt: t0.Add(-3467 * day)}, now: t0,
			want: want{newCA: true, keepCA: true},
		},
		"rollover: new CA not in the caBundle yet": {
			b: Bundle{CA: newCA, Previous: []*x509.Certificate{oldCA.Cert}, Serving: oldServing}, now: t0.Add(time.Hour),
		},
		"rollover: new CA injected, rollover delay not over": {
			b:   Bundle{CA: newCA, Previous: []*x509.Certificate{oldCA.Cert}, Serving: oldServing, CAInjectedAt: t0.Add(time.Minute)},
			now: t0.Add(time.Minute + l.RolloverDelay - time.Second),
		},
		"rollover: new CA injected and delay over: switch": {
			b:    Bundle{CA: newCA, Previous: []*x509.Certificate{oldCA.Cert}, Serving: oldServing, CAInjectedAt: t0.Add(time.Minute)},
			now:  t0.Add(time.Minute + l.RolloverDelay),
			want: want{newServing: true},
		},
		"rollover: serving due but the new CA not trusted yet: keep": {
			b:   Bundle{CA: newCA, Previous: []*x509.Certificate{oldCA.Cert}, Serving: oldServing},
			now: t0.Add(70 * day),
		},
		"rollover: serving expired before the new CA was trusted": {
			b:    Bundle{CA: newCA, Previous: []*x509.Certificate{oldCA.Cert}, Serving: oldServing},
			now:  t0.Add(81 * day),
			want: want{newServing: true},
		},
		"rollover done: previous CA kept while valid": {
			b:   Bundle{CA: newCA, Previous: []*x509.Certificate{oldCA.Cert}, Serving: mustServing(t, newCA, testNames, t0.Add(time.Hour), l.Validity), CAInjectedAt: t0},
			now: t0.Add(2 * time.Hour),
		},
		"rollover done: previous CA dropped when expired": {
			b:    Bundle{CA: newCA, Previous: []*x509.Certificate{oldCA.Cert}, Serving: mustServing(t, newCA, testNames, t0.Add(170*day), l.Validity), CAInjectedAt: t0},
			now:  oldCA.Cert.NotAfter,
			want: want{drop: []*x509.Certificate{oldCA.Cert}},
		},
		"CA due while the last rollover is unfinished: wait": {
			b:   Bundle{CA: oldCA, Previous: []*x509.Certificate{strangerCA.Cert}, Serving: strangerServing},
			now: t0.Add(time.Hour),
		},
		"next rollover supersedes the previous CA": {
			b:    Bundle{CA: oldCA, Previous: []*x509.Certificate{strangerCA.Cert}, Serving: oldServing, CAInjectedAt: t0.Add(-100 * day)},
			now:  t0,
			want: want{newCA: true, keepCA: true, drop: []*x509.Certificate{strangerCA.Cert}},
		},
		"expired CA: replaced, not kept, serving reissued at once": {
			b:    Bundle{CA: ca, Serving: serving, CAInjectedAt: t0},
			now:  ca.Cert.NotAfter.Add(time.Second),
			want: want{newCA: true, newServing: true},
		},
		"expired CA with an unexpired serving certificate from elsewhere": {
			b:    Bundle{CA: ca, Serving: mustServing(t, strangerCA, testNames, ca.Cert.NotAfter.Add(-day), l.Validity), CAInjectedAt: t0},
			now:  ca.Cert.NotAfter,
			want: want{newCA: true, newServing: true},
		},
		"CA key lost: new CA, serving from the keyless one kept until the new is trusted": {
			b:    Bundle{Previous: []*x509.Certificate{ca.Cert}, Serving: serving},
			now:  t0.Add(day),
			want: want{newCA: true},
		},
		"clock skew: serving from a replica 8 minutes ahead is kept": {
			b: Bundle{CA: ca, Serving: aheadServing(8 * time.Minute), CAInjectedAt: t0}, now: t0,
		},
		"clock skew: serving from a clock an hour ahead is replaced": {
			b: Bundle{CA: ca, Serving: aheadServing(hour), CAInjectedAt: t0}, now: t0,
			want: want{newServing: true},
		},
		"clock skew: CA from a clock an hour ahead is replaced": {
			b: Bundle{CA: futureCA, Serving: mustServing(t, futureCA, testNames, t0.Add(hour), l.Validity), CAInjectedAt: t0}, now: t0,
			want: want{newCA: true, newServing: true},
		},
		"clock skew: a replica 3 minutes behind does not renew what was just renewed": {
			b: Bundle{CA: ca, Serving: mustServing(t, ca, testNames, t0.Add(60*day), l.Validity), CAInjectedAt: t0}, now: t0.Add(60*day - 3*time.Minute),
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := Decide(&tc.b, testNames, l, tc.now)
			got := want{newCA: p.NewCA, keepCA: p.KeepCA, newServing: p.NewServing, drop: p.DropPrevious}
			if got.newCA != tc.want.newCA || got.keepCA != tc.want.keepCA || got.newServing != tc.want.newServing ||
				!slices.EqualFunc(got.drop, tc.want.drop, (*x509.Certificate).Equal) {
				t.Errorf("Decide = %+v (reasons %q), want %+v", got, p.Reasons, tc.want)
			}
			if p.Changed() != (len(p.Reasons) > 0) {
				t.Errorf("Changed() = %v but reasons %q", p.Changed(), p.Reasons)
			}
			if !p.Changed() {
				return
			}
			next, err := p.Apply(&tc.b, testNames, l, tc.now, "test-ca")
			if err != nil {
				t.Fatal(err)
			}
			// What was decided leaves nothing more to decide.
			if again := Decide(next, testNames, l, tc.now); again.NewCA || len(again.DropPrevious) > 0 || (again.NewServing && tc.want.newServing) {
				t.Errorf("after Apply, Decide still wants %+v (%q)", again, again.Reasons)
			}
			if next.Serving != nil && !signedByAny(next.Serving.Cert, next.Trusted()) {
				t.Error("after Apply, the serving certificate is not signed by a trusted CA")
			}
		})
	}
}

func TestApplyRollover(t *testing.T) {
	l := testLifetimes
	old := mustCA(t, t0.Add(-3467*day), l.CAValidity)
	s := mustServing(t, old, testNames, t0.Add(-day), l.Validity)
	b := &Bundle{CA: old, Serving: s, CAInjectedAt: t0.Add(-3000 * day)}
	p := Decide(b, testNames, l, t0)
	next, err := p.Apply(b, testNames, l, t0, "new")
	if err != nil {
		t.Fatal(err)
	}
	if next.CA == old || next.CA.Cert.Subject.CommonName != "new" {
		t.Fatal("CA not replaced")
	}
	if len(next.Previous) != 1 || !next.Previous[0].Equal(old.Cert) {
		t.Fatalf("previous = %d certificates, want the old CA", len(next.Previous))
	}
	if next.Serving != s {
		t.Error("serving certificate replaced before the new CA is trusted")
	}
	if !next.CAInjectedAt.IsZero() {
		t.Error("a new CA must not count as injected")
	}
	if trusted := next.Trusted(); len(trusted) != 2 || !trusted[0].Equal(next.CA.Cert) {
		t.Error("Trusted() must list the current CA first, then the previous")
	}
	if b.CA != old || len(b.Previous) != 0 {
		t.Error("Apply changed its input")
	}
}

// TestRolloverNeverUntrusted runs the self-managed lifecycle over three CA
// lifetimes against a model API server that sees the caBundle late, and
// checks that at every step the certificate served verifies against the
// caBundle that API server has.
func TestRolloverNeverUntrusted(t *testing.T) {
	l := Lifetimes{CAValidity: 100 * hour, CARenewBefore: 30 * hour, Validity: 10 * hour, RenewBefore: 4 * hour, RolloverDelay: 20 * time.Minute}
	const step = 5 * time.Minute
	const propagation = 15 * time.Minute // < RolloverDelay
	b := &Bundle{}
	type published struct {
		at    time.Time
		roots []*x509.Certificate
	}
	var history []published // caBundles written to the configurations
	seen := func(now time.Time) []*x509.Certificate {
		var roots []*x509.Certificate
		for _, p := range history {
			if !p.at.Add(propagation).After(now) {
				roots = p.roots
			}
		}
		return roots
	}
	cas, servings := map[string]bool{}, map[string]bool{}
	start := t0
	for now := start; now.Before(start.Add(300 * hour)); now = now.Add(step) {
		if p := Decide(b, testNames, l, now); p.Changed() {
			next, err := p.Apply(b, testNames, l, now, "ca")
			if err != nil {
				t.Fatal(err)
			}
			b = next
		}
		if len(history) == 0 || !slices.EqualFunc(history[len(history)-1].roots, b.Trusted(), (*x509.Certificate).Equal) {
			history = append(history, published{now, b.Trusted()})
		}
		if b.CAInjectedAt.IsZero() {
			b.CAInjectedAt = now
		}
		cas[Fingerprint(b.CA.Cert)] = true
		servings[Fingerprint(b.Serving.Cert)] = true
		// The first caBundle takes propagation to arrive; nothing can be
		// trusted before.
		if now.Before(start.Add(propagation)) {
			continue
		}
		if err := verify(b.Serving.Cert, now, "daemonguard.system.svc", seen(now)...); err != nil {
			t.Fatalf("at +%v the API server rejects the served certificate: %v", now.Sub(start), err)
		}
		if len(b.Previous) > 1 {
			t.Fatalf("at +%v %d previous CAs are kept", now.Sub(start), len(b.Previous))
		}
	}
	if len(cas) < 3 || len(servings) < 30 {
		t.Errorf("only %d CAs and %d serving certificates in 300h: renewals did not happen", len(cas), len(servings))
	}
}

func TestRenewalTime(t *testing.T) {
	ca := mustCA(t, t0, 100*day)
	full := mustServing(t, ca, testNames, t0, 90*day)
	if got, want := RenewalTime(full.Cert, 30*day), t0.Add(60*day); !got.Equal(want) {
		t.Errorf("RenewalTime = %v, want %v", got, want)
	}
	// Cut short by its CA to 10 days: renewed two thirds in, not at once.
	short := mustServing(t, ca, testNames, t0.Add(90*day), 90*day)
	if got, want := RenewalTime(short.Cert, 30*day), t0.Add(90*day).Add(10*day*2/3); !got.Equal(want) {
		t.Errorf("RenewalTime of a short certificate = %v, want %v", got, want)
	}
}

func TestNextCheck(t *testing.T) {
	l := testLifetimes
	ca := mustCA(t, t0, l.CAValidity)
	s := mustServing(t, ca, testNames, t0, l.Validity)
	b := &Bundle{CA: ca, Serving: s, CAInjectedAt: t0}
	if got, want := NextCheck(b, l, t0), t0.Add(60*day); !got.Equal(want) {
		t.Errorf("NextCheck = %v, want the serving renewal %v", got, want)
	}
	if got, want := NextCheck(b, l, t0.Add(60*day)), t0.Add(90*day); !got.Equal(want) {
		t.Errorf("NextCheck past the renewal = %v, want the expiry %v", got, want)
	}
	prev := mustCA(t, t0.Add(-day), 2*day)
	mid := &Bundle{CA: ca, Previous: []*x509.Certificate{prev.Cert}, Serving: mustServing(t, prev, testNames, t0, l.Validity), CAInjectedAt: t0.Add(time.Minute)}
	if got, want := NextCheck(mid, l, t0.Add(time.Minute)), t0.Add(time.Minute+l.RolloverDelay); !got.Equal(want) {
		t.Errorf("NextCheck in a rollover = %v, want the end of the rollover delay %v", got, want)
	}
}

func TestLifetimesValidate(t *testing.T) {
	if err := DefaultLifetimes.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	for name, mod := range map[string]func(*Lifetimes){
		"renew before = validity":        func(l *Lifetimes) { l.RenewBefore = l.Validity },
		"no renew before":                func(l *Lifetimes) { l.RenewBefore = 0 },
		"CA renew before > validity":     func(l *Lifetimes) { l.CARenewBefore = 2 * l.CAValidity },
		"no validity":                    func(l *Lifetimes) { l.Validity = 0 },
		"rollover longer than CA window": func(l *Lifetimes) { l.RolloverDelay = l.CARenewBefore },
		"negative rollover":              func(l *Lifetimes) { l.RolloverDelay = -1 },
	} {
		l := DefaultLifetimes
		mod(&l)
		if err := l.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * day, "0d": 0, "720h": 720 * hour, "3s": 3 * time.Second, "1h30m": 90 * time.Minute} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "1.5d", "-3d", "x", "99999999999d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q): no error", in)
		}
	}
	if got := FormatDuration(90 * day); got != "90d" {
		t.Errorf("FormatDuration(90d) = %q", got)
	}
	if got := FormatDuration(90 * time.Minute); got != "1h30m0s" {
		t.Errorf("FormatDuration(90m) = %q", got)
	}
}

func TestNames(t *testing.T) {
	o := RotatorOptions{ServiceName: "dg", Namespace: "sys", ExtraSANs: []string{"localhost", "127.0.0.1", "::1", ""}}
	n := o.Names()
	if want := []string{"dg.sys.svc", "dg.sys", "dg", "localhost"}; !slices.Equal(n.DNSNames, want) {
		t.Errorf("DNS names = %q, want %q", n.DNSNames, want)
	}
	if len(n.IPs) != 2 || !n.IPs[0].Equal(net.ParseIP("127.0.0.1")) || !n.IPs[1].Equal(net.IPv6loopback) {
		t.Errorf("IPs = %v", n.IPs)
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": ModeFiles, "files": ModeFiles, "self-managed": ModeSelfManaged} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMode("cert-manager"); err == nil {
		t.Error(`ParseMode("cert-manager"): no error (cert-manager mode is "files")`)
	}
}
