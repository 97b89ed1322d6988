package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/daemonguard/daemonguard/certs"
)

// Options configure the webhook server.
type Options struct {
	// NodeChecks watches Nodes for the node-aware rules (node-coverage,
	// matches-no-node, does-not-fit); off, those rules find nothing and the
	// webhook needs no access to Nodes.
	NodeChecks bool
	// Port and CertDir are the TLS listener and the directory holding
	// CertName and KeyName (reloaded when they change).
	Host              string
	Port              int
	CertDir           string
	CertName, KeyName string
	// Certificates is who writes CertDir: certs.ModeFiles (the default)
	// serves it as cert-manager or the user leave it; certs.ModeSelfManaged
	// makes the webhook its own CA, configured by SelfManaged (its
	// Namespace and file names default to the ones above). Either way the
	// webhook is not ready until a valid certificate is served.
	Certificates certs.Mode
	SelfManaged  certs.RotatorOptions
	// EnableHTTP2 turns HTTP/2 on; it is off by default because of the
	// HTTP/2 Rapid Reset and stream-cancellation CVEs.
	EnableHTTP2 bool
	// PolicyFile is the policy file, reloaded every PolicyPollInterval;
	// empty means the built-in defaults.
	PolicyFile         string
	PolicyPollInterval time.Duration
	// Namespace is the webhook's own namespace, always exempt.
	Namespace string
	// MetricsAddr serves /metrics ("0" disables); HealthAddr serves
	// /healthz and /readyz over plain HTTP for the kubelet.
	MetricsAddr string
	HealthAddr  string
	// PprofAddr serves Go's /debug/pprof profiles over plain HTTP ("0" or
	// empty disables it, the default): for profiling a running webhook,
	// bound to loopback or reached with a port-forward.
	PprofAddr string
	// MetricsSecure serves /metrics over HTTPS (the webhook's serving
	// certificate) to clients that authenticate with a bearer token the API
	// server accepts (TokenReview) and may get /metrics (SubjectAccessReview).
	// False serves plain, unauthenticated HTTP.
	MetricsSecure bool
	// Limits bound the webhook server's connections, requests and drain; zero
	// fields take DefaultLimits.
	Limits Limits
	// ShutdownDelay is how long the webhook keeps serving once ctx ends:
	// /readyz fails at once, every response asks the client to close its
	// connection, and only then does the server stop accepting and drain
	// (Limits.DrainTimeout). It covers the time endpoints take to drop the
	// pod and the API server's pooled connections to move elsewhere.
	ShutdownDelay time.Duration
	// MetricsRegistry receives serve's metrics, and MetricsAddr serves it
	// (it must then also be a prometheus.Gatherer); nil means a new
	// registry. Tests running several webhooks in one process give each
	// its own.
	MetricsRegistry prometheus.Registerer
	// Reports turns on the OpenReports Reporter (see ReportsOptions).
	Reports ReportsOptions
	// MutatingConfiguration, when set, names the MutatingWebhookConfiguration
	// whose matchConditions the webhook keeps (get and update on it): equal
	// to the mutating condition of the policy in force, or with
	// MutatingAlways, without daemonguard's condition at all.
	MutatingConfiguration string
	MutatingAlways        bool
	// ValidatingConfiguration, when set, names the
	// ValidatingWebhookConfiguration whose matchConditions the webhook
	// verifies (get on it) at start and every ValidatingCheckInterval
	// (a minute when zero): it reports a configuration that does not carry
	// the condition this binary was built with, and leaves it as it is.
	ValidatingConfiguration string
	ValidatingCheckInterval time.Duration
	// OwnerEvents records an Event on the owner of each denied DaemonSet
	// (create and patch on events), so that a denial an operator receives
	// reaches a person.
	OwnerEvents OwnerEventsOptions
}
