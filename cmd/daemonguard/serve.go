package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/daemonguard/daemonguard/certs"
	"github.com/daemonguard/daemonguard/webhook"
)

func runServe(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("daemonguard serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := webhook.Options{}
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
	fs.StringVar(&sm.WebhookConfigurationName, "webhook-configuration-name", "daemonguard", "self-managed: the name of both the MutatingWebhookConfiguration and the ValidatingWebhookConfiguration whose caBundle is kept")
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
	fs.StringVar(&opts.HealthAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&opts.Reports.Enabled, "reports", false, "keep an OpenReports Report (openreports.io/v1alpha1) per namespace for the DaemonSets already running; one replica writes them, elected with a Lease in --namespace")
	fs.Float64Var(&opts.Reports.WritesPerSecond, "reports-writes-per-second", 5, "reports: at most this many Report writes per second (burst twice that)")
	fs.IntVar(&opts.Reports.MaxResults, "reports-max-results", 2500, "reports: at most this many results in one Report; past it pass, then skip results are left out (the summary still counts them)")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: daemonguard serve [flags]\n\nRuns the mutating and validating admission webhooks for apps/v1 DaemonSets.\nThe cluster is found as kubectl finds it: --kubeconfig, $KUBECONFIG, or in-cluster.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (in-cluster configuration when empty and $KUBECONFIG is unset)")
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
	mode, err := certs.ParseMode(*certMode)
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard serve: --certificates: %v\n", err)
		return 2
	}
	opts.Certificates = mode
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
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if *kubeconfig != "" {
		os.Setenv("KUBECONFIG", *kubeconfig)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintf(stderr, "daemonguard serve: finding the cluster: %v\n", err)
		return 1
	}
	if err := webhook.Run(ctrl.SetupSignalHandler(), cfg, opts); err != nil {
		fmt.Fprintf(stderr, "daemonguard serve: %v\n", err)
		return 1
	}
	return 0
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
