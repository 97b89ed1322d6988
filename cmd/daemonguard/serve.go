package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

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
	fs.BoolVar(&opts.EnableHTTP2, "enable-http2", false, "serve HTTP/2 as well as HTTP/1.1 (off: HTTP/2 Rapid Reset CVEs)")
	fs.StringVar(&opts.PolicyFile, "config", "", "policy file (daemonguard.io/v1alpha1 Policy); the built-in defaults when empty")
	fs.DurationVar(&opts.PolicyPollInterval, "config-poll-interval", 5*time.Second, "how often the policy file is checked for changes")
	fs.StringVar(&opts.Namespace, "namespace", os.Getenv("POD_NAMESPACE"), "the webhook's own namespace, always exempt (default $POD_NAMESPACE)")
	fs.StringVar(&opts.MetricsAddr, "metrics-bind-address", ":8080", `address of the Prometheus metrics endpoint ("0" disables it)`)
	fs.StringVar(&opts.HealthAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
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
