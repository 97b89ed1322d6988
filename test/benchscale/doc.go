// Package benchscale is `make bench-scale`: what daemonguard costs as a
// cluster grows, at SCALE_BENCH_NODES nodes (1,000 and 5,000 in one run, so
// that the growth is computed) and SCALE_BENCH_DAEMONSETS DaemonSets (2,000,
// at every size: the issue fixes the DaemonSets and grows the nodes). For
// each size, on a fresh kube-apiserver + etcd:
//
//   - the webhook's node cache: `daemonguard serve` (a child process built
//     as the Dockerfile builds it, node checks on) holds no node, then every
//     node; the heap it keeps after a forced GC (its /debug/pprof/heap?gc=1
//     MemStats) grows by the cache;
//   - admission with the node checks: the DaemonSets created one after the
//     other through the API server and both webhooks, client-side latency
//     (p50, p99); every create runs the node-aware rules over every node;
//   - the Reporter's full resync: serve restarted with --reports, then its
//     first pass as leader over the existing DaemonSets, a policy reload that
//     changes nothing (every DaemonSet evaluated again, nothing written) and
//     one that changes every verdict's action (every Report rewritten): wall
//     time until its work queue is idle, and the Report writes the API server
//     saw (a watch);
//   - `daemonguard scan` over every DaemonSet (the same binary), wall time.
//
// What is real and what is written directly. Real: kube-apiserver and etcd,
// serve with its informers, leader election, Reporter and metrics, both
// webhooks on every DaemonSet create, the Report writes, scan. Written
// directly: the Nodes, kwok-shaped (the labels, allocatable, conditions,
// addresses, daemon endpoints and node info kwok's node stage writes) and
// Ready, the not-ready taint dropped as the node lifecycle controller drops
// it, with no Lease (leases off). Not run at all: kwok, the scheduler and
// kube-controller-manager. None of them is on what is measured: the webhook
// and the Reporter read Nodes and DaemonSets, never pods, and scan reads
// DaemonSets. Running them would mean settling 2,000 DaemonSets on 5,000
// nodes, ten million pods, which two cores cannot do; even their idle work
// (kwok's node status, the controllers' resyncs) would fall on the figures.
//
// The webhook runs without --reports while the DaemonSets are created:
// otherwise the Reporter would evaluate each namespace again at every
// create, and its CPU would be in the admission figure.
//
// Plain `go test` (as `make test` runs it) starts nothing: the clusters come
// up only when the benchmark is asked for.
package benchscale
