// Command daemonguard is a Kubernetes admission webhook that guards
// DaemonSets: `serve` runs the webhook, `check` runs the same policy engine
// over files, `scan` over a cluster's DaemonSets, `explain` says why one
// DaemonSet does or does not run on each node, `version` prints the build.
//go:generate go run ../../hack/gendocs -root ../..

package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = `daemonguard guards Kubernetes DaemonSets: it fills in the defaults node agents
need and rejects unsafe host access.

Usage:
  daemonguard serve [flags]      run the admission webhook server
  daemonguard check [flags] FILE...  review DaemonSet manifests offline ("-" reads stdin)
  daemonguard scan [flags]       review the DaemonSets already in a cluster
  daemonguard explain [flags] daemonset/NAME  why a DaemonSet does or does not run on each node
  daemonguard version            print the version

Run "daemonguard COMMAND --help" for a command's flags.
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], stderr)
	case "check":
		return runCheck(args[1:], stdin, stdout, stderr)
	case "scan":
		return runScan(args[1:], stdout, stderr)
	case "explain":
		return runExplain(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "daemonguard %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "daemonguard: unknown command %q\n\n%s", args[0], usage)
	return 2
}
