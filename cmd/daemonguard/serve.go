package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager/signals"

	"github.com/daemonguard/daemonguard/certs"
	"github.com/daemonguard/daemonguard/webhook"
)

// serveOptions is everything serve is told: the webhook's options and where
// the cluster is.
type serveOptions struct {
	webhook.Options
	// Kubeconfig is the kubeconfig file; empty means $KUBECONFIG, then the
	// in-cluster configuration, then ~/.kube/config.
	Kubeconfig string
}

func runServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("daemonguard serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	so := serveOptions{}
	opts := &so.Options
	fs.StringVar(&opts.Host, "host", "", "address the webhook server listens on (all addresses when empty)")
	fs.IntVar(&opts.Port, "port", 9443, "port of the HTTPS webhook server")
	fs.StringVar(&opts.CertDir, "cert-dir", "/tmp/k8s-webhook-server/serving-certs", "directory holding the serving certificate and key; reloaded when they change")
	fs.StringVar(&opts.CertName, "cert-name", "tls.crt", "serving certificate file name in --cert-dir")
	fs.StringVar(&opts.KeyName, "key-name", "tls.key", "serving key file name in --cert-dir")
	certMode := fs.String("certificates", string(certs.ModeFiles), `where the serving certificate comes from: "files" serves --cert-dir as cert-manager or you write it; "self-managed" makes the webhook its own CA, keeping the certificate in a Secret and the caBundle of the webhook configurations`)
	sm := &opts.SelfManaged
	sm.Lifetimes = certs.DefaultLifetimes
	fs.StringVar(&sm.SecretName, "cert-secret-name", "daemonguard-tls", "self-managed: the kubernetes.io/tls Secret in --namespace holding the CA and the serving certificate")
	fs.StringVar(&sm.ServiceName, "service-name", "daemonguard", "self-managed: the webhook's Service; the certificate is for <service>.<namespace>.svc")
	fs.StringVar(&sm.WebhookConfigurationName, "webhook-configuration-name", "daemonguard", "the name of both webhook configurations: self-managed keeps their caBundle, --mutating-match-condition the mutating one's matchConditions, --verify-validating-match-conditions checks the validating one's")
	fs.Func("cert-extra-sans", "self-managed: comma-separated extra DNS names and IP addresses for the certificate (local development: 127.0.0.1,localhost)", func(v string) error {
		for _, san := range strings.Split(v, ",") {
			if san = strings.TrimSpace(san); san != "" {
				sm.ExtraSANs = append(sm.ExtraSANs, san)
			}
		}
		return nil
	})
	fs.Var(durationFlag{&sm.Lifetimes.Validity}, "cert-validity", "self-managed: lifetime of a serving certificate (units d, h, m, s)")
	fs.Var(durationFlag{&sm.Lifetimes.RenewBefore}, "cert-renew-before", "self-managed: renew the serving certificate when less than this is left")
	fs.Var(durationFlag{&sm.Lifetimes.CAValidity}, "ca-validity", "self-managed: lifetime of the CA")
	fs.Var(durationFlag{&sm.Lifetimes.CARenewBefore}, "ca-renew-before", "self-managed: replace the CA when less than this is left; the old one stays in the caBundle meanwhile")
	fs.Var(durationFlag{&sm.Lifetimes.RolloverDelay}, "ca-rollover-delay", "self-managed: how long a new CA is in the caBundle before certificates it signs are served")
	fs.BoolVar(&opts.EnableHTTP2, "enable-http2", false, "serve HTTP/2 as well as HTTP/1.1 (off: HTTP/2 Rapid Reset CVEs)")
	fs.StringVar(&opts.PolicyFile, "config", "", "policy file (daemonguard.io/v1alpha1 Policy); the built-in defaults when empty")
	fs.DurationVar(&opts.PolicyPollInterval, "config-poll-interval", 5*time.Second, "how often the policy file is checked for changes")
	fs.StringVar(&opts.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the webhook's own namespace, always exempt (default $POD_NAMESPACE)")
	fs.StringVar(&opts.MetricsAddr, "metrics-bind-address", ":8080", `address of the Prometheus metrics endpoint ("0" disables it)`)
	fs.BoolVar(&opts.MetricsSecure, "metrics-secure", true, "serve /metrics over HTTPS to clients authenticated by a bearer token (TokenReview) and authorized to get the /metrics non-resource URL (SubjectAccessReview); false serves plain, unauthenticated HTTP")
	fs.StringVar(&opts.HealthAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.StringVar(&opts.PprofAddr, "pprof-bind-address", "0", `address of Go's /debug/pprof profiles, plain HTTP and unauthenticated: bind it to loopback ("0" disables it)`)
	lim := &opts.Limits
	*lim = webhook.DefaultLimits()
	fs.DurationVar(&opts.ShutdownDelay, "shutdown-delay", 5*time.Second, "after SIGTERM, keep serving this long with /readyz failing and every response closing its connection, before draining; covers endpoint propagation and moves the API server's pooled connections to other replicas")
	fs.DurationVar(&lim.DrainTimeout, "drain-timeout", lim.DrainTimeout, "after the shutdown delay, how long in-flight reviews may take to finish")
	fs.DurationVar(&lim.ReadHeaderTimeout, "read-header-timeout", lim.ReadHeaderTimeout, "webhook server: time allowed for the TLS handshake and the request headers (slow clients are cut off)")
	fs.DurationVar(&lim.ReadTimeout, "read-timeout", lim.ReadTimeout, "webhook server: time allowed to read a whole request, body included")
	fs.DurationVar(&lim.WriteTimeout, "write-timeout", lim.WriteTimeout, "webhook server: time allowed from the end of the request headers to the end of the response")
	fs.DurationVar(&lim.IdleTimeout, "idle-timeout", lim.IdleTimeout, "webhook server: keep-alive connections idle this long are closed (longer than the API server's 90s, so the client closes first)")
	fs.IntVar(&lim.MaxHeaderBytes, "max-header-bytes", lim.MaxHeaderBytes, "webhook server: largest request header block")
	fs.Int64Var(&lim.MaxRequestBytes, "max-request-bytes", lim.MaxRequestBytes, "webhook server: largest admission review body, refused by its Content-Length before it is read")
	fs.Int64Var(&lim.MaxInFlightBodyBytes, "max-inflight-body-bytes", lim.MaxInFlightBodyBytes, "webhook server: most bytes of large review bodies (over 64 KiB) read and decoded at once; a body that finds no room within 2s gets 503 with Retry-After")
	fs.IntVar(&lim.MaxConnections, "max-connections", lim.MaxConnections, "webhook server: most open connections; at the cap a new connection displaces the oldest one that never sent a complete request")
	mutatingCondition := fs.String("mutating-match-condition", "", `what the webhook keeps in the matchConditions of the MutatingWebhookConfiguration named --webhook-configuration-name (get and update on it): "policy" the mutating condition of the policy in force, so the API server skips the webhook for DaemonSets no mutator would change; "always" none of its own, so every DaemonSet is sent (and a condition written before is removed); empty leaves them alone`)
	verifyValidating := fs.Bool("verify-validating-match-conditions", true, "check at start and every minute that the ValidatingWebhookConfiguration named --webhook-configuration-name (get on it) carries the matchCondition this binary's rules need; report one that does not (daemonguard_validating_match_conditions_current 0, a log line, an Event on it) and leave it as it is")
	fs.BoolVar(&opts.OwnerEvents.Enabled, "owner-events", true, "record a Warning Event (reason DaemonSetDenied) on the owner of each denied DaemonSet that has one (an operator's resource): the rules, the fields, the fix and the exemption; one Event per owner, DaemonSet and rules, its count written at most every 10s; needs create and patch on events")
	// The chart sets POD_NAME; a pod's hostname is its name too.
	opts.OwnerEvents.Instance = os.Getenv("POD_NAME")
	if opts.OwnerEvents.Instance == "" {
		opts.OwnerEvents.Instance, _ = os.Hostname()
	}
	fs.BoolVar(&opts.NodeChecks, "node-checks", true, "watch Nodes for the node-aware rules (node-coverage, matches-no-node, does-not-fit); needs get/list/watch on nodes")
	fs.BoolVar(&opts.Reports.Enabled, "reports", false, "keep an OpenReports Report (openreports.io/v1alpha1) per namespace for the DaemonSets already running; one replica writes them, elected with a Lease in --namespace")
	fs.Float64Var(&opts.Reports.WritesPerSecond, "reports-writes-per-second", 5, "reports: at most this many Report writes per second (burst twice that)")
	fs.IntVar(&opts.Reports.MaxResults, "reports-max-results", 2500, "reports: at most this many results in one Report; past it pass, then skip results are left out (the summary still counts them)")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: daemonguard serve [flags]\n\nRuns the mutating and validating admission webhooks for apps/v1 DaemonSets.\nThe cluster is found as kubectl finds it: --kubeconfig, $KUBECONFIG, or in-cluster.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	fs.StringVar(&so.Kubeconfig, "kubeconfig", "", "kubeconfig file (in-cluster configuration when empty and $KUBECONFIG is unset)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "daemonguard serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if opts.PolicyPollInterval <= 0 {
		fmt.Fprintln(stderr, "daemonguard serve: --config-poll-interval must be positive")
		return 2
	}
	if opts.ShutdownDelay < 0 {
		fmt.Fprintln(stderr, "daemonguard serve: --shutdown-delay must not be negative")
		return 2
	}
	if err := lim.Validate(); err != nil {
		fmt.Fprintf(stderr, "daemonguard serve: %v\n", err)
		return 2
	}
	mode, err := certs.ParseMode(*certMode)
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard serve: --certificates: %v\n", err)
		return 2
	}
	opts.Certificates = mode
	switch *mutatingCondition {
	case "":
	case "policy", "always":
		if sm.WebhookConfigurationName == "" {
			fmt.Fprintln(stderr, "daemonguard serve: --mutating-match-condition needs --webhook-configuration-name")
			return 2
		}
		opts.MutatingConfiguration, opts.MutatingAlways = sm.WebhookConfigurationName, *mutatingCondition == "always"
	default:
		fmt.Fprintf(stderr, "daemonguard serve: --mutating-match-condition: %q is not policy, always or empty\n", *mutatingCondition)
		return 2
	}
	if *verifyValidating {
		opts.ValidatingConfiguration = sm.WebhookConfigurationName
	}
	opts.Reports.Burst = int(2 * opts.Reports.WritesPerSecond)
	if opts.Reports.Enabled && opts.Namespace == "" {
		fmt.Fprintln(stderr, "daemonguard serve: --reports needs --namespace (or $POD_NAMESPACE) for its leader-election Lease")
		return 2
	}
	if mode == certs.ModeSelfManaged {
		if err := sm.Lifetimes.Validate(); err != nil {
			fmt.Fprintf(stderr, "daemonguard serve: %v\n", err)
			return 2
		}
		if opts.Namespace == "" {
			fmt.Fprintln(stderr, "daemonguard serve: --certificates=self-managed needs --namespace (or $POD_NAMESPACE)")
			return 2
		}
	}
	logf.SetLogger(newLogger(&zapOpts))
	cfg, err := restConfig(so.Kubeconfig)
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard serve: finding the cluster: %v\n", err)
		return 1
	}
	if err := webhook.Run(signals.SetupSignalHandler(), cfg, so.Options); err != nil {
		fmt.Fprintf(stderr, "daemonguard serve: %v\n", err)
		return 1
	}
	return 0
}

// restConfig loads the kubeconfig at path, or, when path is empty, finds the
// cluster as controller-runtime does ($KUBECONFIG, in-cluster, ~/.kube/config).
// The path is passed explicitly: changing the process environment would leak
// into everything else that reads it.
func restConfig(path string) (*rest.Config, error) {
	if path == "" {
		return config.GetConfig()
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: path}, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, err
	}
	if cfg.QPS == 0 {
		cfg.QPS = -1 // as config.GetConfig: rely on API priority and fairness
	}
	return cfg, nil
}

// durationFlag is a time.Duration flag that also takes days ("90d").
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return ""
	}
	return certs.FormatDuration(*f.d)
}

func (f durationFlag) Set(s string) error {
	d, err := certs.ParseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}
