// Package sim proves the nodes package against the real thing: on a
// simulated cluster (test/internal/sim: kube-apiserver, etcd, the real
// kube-controller-manager and kube-scheduler, kwok playing 20 nodes of the
// declared shapes), what nodes.Coverage, nodes.Fit and nodes.HostPortSurge
// predict is what the DaemonSet controller and the scheduler do, and the
// failures the API server accepts silently look the way the checks say; and
// that `daemonguard explain` names each situation after the fact, with its
// reason code, on exactly the nodes it happens on (explain_test.go).
// Run it with `make integration` (or `make test`).
package sim

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/daemonguard/daemonguard/test/internal/sim"
)

// suiteNodes keeps the suite fast: every shape is present, and a DaemonSet
// settles in about a second.
const suiteNodes = 20

var cluster *sim.Cluster

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "sim: KUBEBUILDER_ASSETS is not set; run `make integration`, which builds kube-apiserver, etcd, kube-controller-manager, kube-scheduler and kwok from the Go module proxy")
		return 1
	}
	// The state directory (logs of every component) is removed after a
	// passing run and kept after a failing one.
	dir, err := os.MkdirTemp("", "daemonguard-sim-suite-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := time.Now()
	cluster, err = sim.Start(context.Background(), sim.Options{Nodes: suiteNodes, StateDir: dir, ReadyTimeout: 2 * time.Minute})
	if err != nil {
		fmt.Fprintf(os.Stderr, "sim: %v\n(logs in %s)\n", err, dir)
		return 1
	}
	fmt.Printf("sim: %d nodes Ready, controller-manager, scheduler and kwok running in %s (logs in %s)\n", suiteNodes, time.Since(start).Round(time.Millisecond), dir)
	code := m.Run()
	if err := cluster.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "sim: stopping the cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	if code == 0 {
		_ = os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "sim: logs kept in %s\n", dir)
	}
	return code
}
