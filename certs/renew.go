package certs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"
)

// Lifetimes say how long self-managed certificates live and when they are
// renewed.
type Lifetimes struct {
	// CAValidity is the lifetime of a new CA; the CA is replaced once less
	// than CARenewBefore of it is left.
	CAValidity, CARenewBefore time.Duration
	// Validity is the lifetime of a new serving certificate (never beyond its
	// CA's); it is renewed once less than RenewBefore of it is left.
	Validity, RenewBefore time.Duration
	// RolloverDelay is how long a new CA must have been in the webhook
	// configurations' caBundle before serving certificates are signed by it:
	// the time every API server takes to see the new caBundle.
	RolloverDelay time.Duration
}

// DefaultLifetimes are the lifetimes when none are configured.
var DefaultLifetimes = Lifetimes{
	CAValidity:    10 * 365 * 24 * time.Hour,
	CARenewBefore: 365 * 24 * time.Hour,
	Validity:      90 * 24 * time.Hour,
	RenewBefore:   30 * 24 * time.Hour,
	RolloverDelay: 2 * time.Minute,
}

// Validate rejects lifetimes that would renew at every check or never
// finish a CA rollover.
func (l Lifetimes) Validate() error {
	var errs []error
	if l.Validity <= 0 || l.CAValidity <= 0 {
		errs = append(errs, errors.New("certificate and CA validity must be positive"))
	}
	if l.RenewBefore <= 0 || l.RenewBefore >= l.Validity {
		errs = append(errs, fmt.Errorf("certificate renew-before (%v) must be positive and shorter than its validity (%v)", l.RenewBefore, l.Validity))
	}
	if l.CARenewBefore <= 0 || l.CARenewBefore >= l.CAValidity {
		errs = append(errs, fmt.Errorf("CA renew-before (%v) must be positive and shorter than its validity (%v)", l.CARenewBefore, l.CAValidity))
	}
	if l.RolloverDelay < 0 || l.RolloverDelay >= l.CARenewBefore {
		errs = append(errs, fmt.Errorf("CA rollover delay (%v) must be shorter than the CA renew-before (%v), or the old CA expires mid-rollover", l.RolloverDelay, l.CARenewBefore))
	}
	return errors.Join(errs...)
}

// Bundle is the self-managed certificate state, as stored in the Secret.
type Bundle struct {
	// CA is the current CA, with its key; nil when there is none usable.
	CA *KeyPair
	// Previous are older CAs still trusted (certificates only): during a
	// rollover the serving certificate and lagging replicas still use one.
	Previous []*x509.Certificate
	// Serving is the serving certificate and key; nil when there is none.
	Serving *KeyPair
	// CAInjectedAt is when the current CA was first seen in every webhook
	// configuration's caBundle; zero while it is not known to be there.
	CAInjectedAt time.Time
}

// Trusted is the CA bundle to put in the webhook configurations: the
// current CA first, then the previous ones.
func (b *Bundle) Trusted() []*x509.Certificate {
	var out []*x509.Certificate
	if b.CA != nil {
		out = append(out, b.CA.Cert)
	}
	return append(out, b.Previous...)
}

// Plan is what Decide found needs doing. The zero Plan changes nothing.
type Plan struct {
	// NewCA replaces the CA; the old one stays trusted as previous when
	// KeepCA (it is still valid: a rollover), and is dropped otherwise.
	NewCA, KeepCA bool
	// DropPrevious lists the previous CAs to drop (expired or superseded).
	DropPrevious []*x509.Certificate
	// NewServing issues a new serving certificate from the (new) CA.
	NewServing bool
	// Reasons say why, for logs.
	Reasons []string
}

// Changed reports whether the plan changes the bundle.
func (p Plan) Changed() bool { return p.NewCA || p.NewServing || len(p.DropPrevious) > 0 }

// Decide says what must change in b at now so the serving certificate stays
// valid and trusted, with names on it and certificates living l.
//
// The CA is replaced when missing, unusable or due for renewal. A due but
// still valid CA stays trusted as previous while the serving certificate it
// signed keeps being served, until the new CA has been in the caBundle for
// l.RolloverDelay; only then is a serving certificate from the new CA issued.
// Thus no API server is ever shown a certificate it does not trust yet, and
// no replica serves one whose CA left the bundle.
func Decide(b *Bundle, names ServingNames, l Lifetimes, now time.Time) Plan {
	var p Plan
	ca := b.CA
	injectedAt := b.CAInjectedAt
	previous := slices.Clone(b.Previous)

	switch {
	case ca == nil:
		p.NewCA = true
		p.Reasons = append(p.Reasons, "no CA")
	case !usable(ca.Cert, now):
		p.NewCA = true
		p.Reasons = append(p.Reasons, fmt.Sprintf("CA not valid at %s (valid %s to %s)", stamp(now), stamp(ca.Cert.NotBefore), stamp(ca.Cert.NotAfter)))
	case !now.Before(RenewalTime(ca.Cert, l.CARenewBefore)):
		// One rollover at a time: while the serving certificate is still
		// signed by a previous CA, that CA is in use and must stay trusted.
		if b.Serving == nil || !signedByAny(b.Serving.Cert, previous) {
			p.NewCA, p.KeepCA = true, true
			p.Reasons = append(p.Reasons, fmt.Sprintf("CA due for renewal (expires %s)", stamp(ca.Cert.NotAfter)))
		}
	}
	if p.NewCA {
		injectedAt = time.Time{}
		if p.KeepCA {
			// The new CA keeps only the one it replaces: anything older has
			// no serving certificate left (see above).
			for _, c := range previous {
				p.DropPrevious = append(p.DropPrevious, c)
				p.Reasons = append(p.Reasons, fmt.Sprintf("previous CA %s superseded", Fingerprint(c)))
			}
			previous = []*x509.Certificate{ca.Cert}
		}
	}
	for _, c := range previous {
		if !now.Before(c.NotAfter) && !slices.Contains(p.DropPrevious, c) {
			p.DropPrevious = append(p.DropPrevious, c)
			p.Reasons = append(p.Reasons, fmt.Sprintf("previous CA %s expired", Fingerprint(c)))
		}
	}
	previous = slices.DeleteFunc(previous, func(c *x509.Certificate) bool { return slices.Contains(p.DropPrevious, c) })

	// A fresh CA (no previous one to fall back on) is trusted at once: there
	// is nothing else to serve.
	caTrusted := len(previous) == 0 || (!injectedAt.IsZero() && !now.Before(injectedAt.Add(l.RolloverDelay)))
	s := b.Serving
	switch {
	case s == nil:
		p.NewServing = true
		p.Reasons = append(p.Reasons, "no serving certificate")
	case !usable(s.Cert, now):
		p.NewServing = true
		p.Reasons = append(p.Reasons, fmt.Sprintf("serving certificate not valid at %s (valid %s to %s)", stamp(now), stamp(s.Cert.NotBefore), stamp(s.Cert.NotAfter)))
	case !sameNames(s.Cert, names):
		p.NewServing = true
		p.Reasons = append(p.Reasons, "serving certificate names changed")
	case !p.NewCA && signedBy(s.Cert, ca.Cert):
		if !now.Before(RenewalTime(s.Cert, l.RenewBefore)) {
			p.NewServing = true
			p.Reasons = append(p.Reasons, fmt.Sprintf("serving certificate due for renewal (expires %s)", stamp(s.Cert.NotAfter)))
		}
	case signedByAny(s.Cert, previous):
		// Mid-rollover: keep serving what the API servers surely trust
		// until they surely trust the new CA too. The previous CA's key is
		// not kept, so a due renewal waits for the switch.
		if caTrusted {
			p.NewServing = true
			p.Reasons = append(p.Reasons, "new CA is in the caBundle: switching the serving certificate to it")
		}
	default:
		p.NewServing = true
		p.Reasons = append(p.Reasons, "serving certificate not signed by a trusted CA")
	}
	return p
}

// NextCheck is the earliest time after now at which Decide could decide
// differently for b, assuming nothing else changes; zero if never.
func NextCheck(b *Bundle, l Lifetimes, now time.Time) time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	if b.CA != nil {
		consider(RenewalTime(b.CA.Cert, l.CARenewBefore))
		consider(b.CA.Cert.NotAfter)
	}
	for _, c := range b.Previous {
		consider(c.NotAfter)
	}
	if b.Serving != nil {
		consider(RenewalTime(b.Serving.Cert, l.RenewBefore))
		consider(b.Serving.Cert.NotAfter)
	}
	if !b.CAInjectedAt.IsZero() && b.Serving != nil && signedByAny(b.Serving.Cert, b.Previous) {
		consider(b.CAInjectedAt.Add(l.RolloverDelay))
	}
	return next
}

// RenewalTime is when c is due for renewal: renewBefore ahead of its expiry,
// or two thirds into its lifetime when it lives less than renewBefore (a
// serving certificate cut short by its CA's expiry) so it is not renewed
// at every check.
func RenewalTime(c *x509.Certificate, renewBefore time.Duration) time.Time {
	issued := c.NotBefore.Add(MaxClockSkew) // undo the backdating
	if issued.After(c.NotAfter) {
		issued = c.NotBefore
	}
	lifetime := c.NotAfter.Sub(issued)
	if renewBefore >= lifetime {
		return issued.Add(lifetime * 2 / 3)
	}
	return c.NotAfter.Add(-renewBefore)
}

// usable reports whether c is valid at now, allowing for MaxClockSkew
// between the clock that issued it and ours.
func usable(c *x509.Certificate, now time.Time) bool {
	return !c.NotBefore.After(now.Add(MaxClockSkew)) && now.Before(c.NotAfter)
}

func signedByAny(c *x509.Certificate, cas []*x509.Certificate) bool {
	return slices.ContainsFunc(cas, func(ca *x509.Certificate) bool { return signedBy(c, ca) })
}

func sameNames(c *x509.Certificate, names ServingNames) bool {
	if !sameSet(c.DNSNames, names.DNSNames) {
		return false
	}
	return sameSet(ipStrings(c.IPAddresses), ipStrings(names.IPs))
}

func ipStrings(ips []net.IP) []string {
	out := make([]string, len(ips))
	for i, ip := range ips {
		out[i] = ip.String()
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Apply carries out p on b at now and returns the new bundle; b is not
// changed. caName names a new CA.
func (p Plan) Apply(b *Bundle, names ServingNames, l Lifetimes, now time.Time, caName string) (*Bundle, error) {
	next := &Bundle{CA: b.CA, Serving: b.Serving, CAInjectedAt: b.CAInjectedAt}
	for _, c := range b.Previous {
		if !slices.Contains(p.DropPrevious, c) {
			next.Previous = append(next.Previous, c)
		}
	}
	if p.NewCA {
		ca, err := NewCA(caName, now, l.CAValidity)
		if err != nil {
			return nil, fmt.Errorf("creating a CA: %w", err)
		}
		if p.KeepCA && b.CA != nil {
			next.Previous = append([]*x509.Certificate{b.CA.Cert}, next.Previous...)
		}
		next.CA, next.CAInjectedAt = ca, time.Time{}
	}
	if p.NewServing {
		s, err := NewServing(next.CA, names, now, l.Validity)
		if err != nil {
			return nil, fmt.Errorf("issuing a serving certificate: %w", err)
		}
		next.Serving = s
	}
	return next, nil
}
