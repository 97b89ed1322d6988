// Package benche2e is the end-to-end benchmark behind `make bench-e2e`: what
// a DaemonSet apply costs through a real kube-apiserver and etcd with no
// admission at all, with `daemonguard serve` (a child process, the shipped
// webhook configurations) and with ValidatingAdmissionPolicy +
// MutatingAdmissionPolicy equivalents (testdata/anchor-policies.yaml, a
// benchmark anchor only), and with the shipped configurations pointed at an
// allow-everything webhook (nullwebhook: the floor any two hops cost).
//
// It measures three requests, sequentially over one keep-alive connection,
// with the arms alternated round by round so that noise falls on all alike:
//
//	first apply       server-side dry-run create of the seed node-exporter
//	                  as written (mutation needed, host access)
//	compliant host    server-side apply of the stored, already-compliant
//	                  node-exporter (host access: validation only)
//	compliant         the same for the stored gpu-monitor (no host access)
//
// then all three from concurrent clients (throughput, and serve's CPU per
// first apply under it; BENCH_E2E_PROFILE=DIR saves serve's CPU and
// allocation profiles of that load there), the cost of
// one DaemonSet with 1, 10 and 100 containers and hostPath volumes (in
// process and end to end), and the webhook's resident memory. It ends with
// `BENCH <name> <value>` lines, as `make bench` and `make soak` do.
//
// Everything runs in BenchmarkE2E: plain `go test` only compiles it and runs
// the offline checks of the scenario objects.
package benche2e
