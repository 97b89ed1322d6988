// Package bench compares daemonguard's admission handlers with the path most
// webhooks take: controller-runtime's generic typed handlers
// (admission.WithDefaulter / admission.WithValidator), which decode the whole
// object, deep-copy it, marshal it back and diff the two JSON documents. Both
// sides run the same compiled policy over the seed's node-exporter DaemonSet,
// so the difference measured is the admission plumbing alone.
//
// `make bench` runs the benchmarks and hack/benchsummary reduces them to the
// speedup and allocation figures.
package bench
