package benche2e

import (
	"fmt"
	"io"
	"time"
)

// results are everything one run measured.
type results struct {
	settings
	version         string
	matchConditions bool
	nullPatches     bool                                // the null pair answers the first apply with daemonguard's patch
	seq             [numArms]map[string][]time.Duration // by scenario key
	growth          [numArms]map[int][]time.Duration    // by container count
	throughput      [numArms]map[string]float64         // requests/s, mean over rounds
	calls           map[string]map[string]float64       // scenario key -> webhook -> reviews
	callsOver       map[string]int                      // scenario key -> requests the calls are over
	inProcess       map[int]float64                     // ns per first apply, by container count
	cpu             [numArms]cpuUse                     // during each arm's first-apply throughput runs
	memIdle         memory
	memLoad         memory
	notes           []string
}

func newResults(s settings) *results {
	r := &results{settings: s, calls: map[string]map[string]float64{}, callsOver: map[string]int{}, inProcess: map[int]float64{}}
	for a := range numArms {
		r.seq[a], r.growth[a], r.throughput[a] = map[string][]time.Duration{}, map[int][]time.Duration{}, map[string]float64{}
	}
	return r
}

// cpuUse is the CPU the processes on the admission path used over a number
// of creates.
type cpuUse struct {
	webhook   time.Duration // serve or the null webhook, whichever the arm calls
	apiserver time.Duration // kube-apiserver
	creates   int64
}

// perCreate is webhook and API server CPU in milliseconds per create.
func (u cpuUse) perCreate() (webhook, apiserver float64) {
	if u.creates == 0 {
		return 0, 0
	}
	n := 1e6 * float64(u.creates)
	return float64(u.webhook) / n, float64(u.apiserver) / n
}

// addCalls records the reviews serve answered during n requests of a
// scenario.
func (r *results) addCalls(key string, before, after map[string]float64, n int) {
	if r.calls[key] == nil {
		r.calls[key] = map[string]float64{}
	}
	for _, hook := range []string{"mutate", "validate", "mutate seconds", "validate seconds"} {
		r.calls[key][hook] += after[hook] - before[hook]
	}
	r.callsOver[key] += n
}

var scenarioOrder = []struct{ key, name string }{
	{"first_apply", "(a) first apply: dry-run create of the seed node-exporter, needs mutation, host access"},
	{"compliant_hostaccess", "(b) compliant re-apply with host access: server-side apply of the stored node-exporter"},
	{"compliant", "(c) compliant re-apply, no host access: server-side apply of the stored gpu-monitor"},
}

func ratio(x, y float64) float64 {
	if y == 0 {
		return 0
	}
	return x / y
}

func p50(xs []time.Duration) float64 { return float64(percentile(xs, 0.5)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

// print writes the tables, then the BENCH lines last.
func (r *results) print(w io.Writer) {
	fmt.Fprintf(w, "\nend to end through kube-apiserver %s + etcd; daemonguard serve as a child process (admin kubeconfig)\n", r.version)
	fmt.Fprintf(w, "%d rounds, arms alternated; per round, arm and scenario %d sequential requests on one connection after %d warm-up\n", r.rounds, r.requests, r.warmup)
	mc := "no (this serve has no --mutating-match-condition: every DaemonSet request reaches both webhooks)"
	switch {
	case r.noConditions:
		mc = "no, and none on the validating webhook either (BENCH_E2E_NO_MATCH_CONDITIONS=1): every DaemonSet request reaches both webhooks"
	case r.matchConditions:
		mc = "yes (--mutating-match-condition=policy)"
	}
	fmt.Fprintf(w, "mutating webhook matchConditions written by serve: %s\n", mc)
	if r.nullPatches {
		fmt.Fprintf(w, "the null pair answers the first apply with daemonguard's patch (BENCH_E2E_NULL_PATCHES=1)\n")
	}
	for _, sc := range scenarioOrder {
		fmt.Fprintf(w, "\n%s\n  %-12s %9s %9s %9s   %s\n", sc.name, "arm", "p50", "p99", "vs none", "daemonguard reviews/request")
		none := p50(r.seq[none][sc.key])
		for a := range numArms {
			xs := r.seq[a][sc.key]
			extra := ""
			if a == daemonguard && r.callsOver[sc.key] > 0 {
				n := float64(r.callsOver[sc.key])
				c := r.calls[sc.key]
				extra = fmt.Sprintf("mutate %.2f, validate %.2f; serve's own time %s", c["mutate"]/n, c["validate"]/n,
					ms(time.Duration((c["mutate seconds"]+c["validate seconds"])/n*float64(time.Second))))
			}
			fmt.Fprintf(w, "  %-12s %9s %9s %8.2fx   %s\n", a, ms(percentile(xs, 0.5)), ms(percentile(xs, 0.99)), ratio(p50(xs), none), extra)
		}
	}
	fmt.Fprintf(w, "\nthroughput: %d concurrent clients, each on its own connection, %s per arm and round (requests/s, mean of %d rounds)\n", r.clients, r.duration, r.rounds)
	fmt.Fprintf(w, "  %-22s %9s %12s %9s %9s %9s %9s\n", "scenario", "none", "daemonguard", "vap+map", "null pair", "dg/none", "vap/none")
	for _, sc := range scenarioOrder {
		t := func(a arm) float64 { return r.throughput[a][sc.key] }
		fmt.Fprintf(w, "  %-22s %9.0f %12.0f %9.0f %9.0f %8.2fx %8.2fx\n", sc.key, t(none), t(daemonguard), t(anchor), t(null), ratio(t(daemonguard), t(none)), ratio(t(anchor), t(none)))
	}
	fmt.Fprintf(w, "CPU (user + system) per first apply under that load, ms: the webhook the arm calls, and kube-apiserver\n")
	fmt.Fprintf(w, "  %-12s %9s %14s %9s\n", "arm", "webhook", "kube-apiserver", "creates")
	for a := range numArms {
		hook, apiserver := r.cpu[a].perCreate()
		fmt.Fprintf(w, "  %-12s %9.3f %14.3f %9d\n", a, hook, apiserver, r.cpu[a].creates)
	}
	fmt.Fprintf(w, "\ngrowth: dry-run create of one DaemonSet with N containers, each mounting its own read-only hostPath volume, no defaults set\n")
	fmt.Fprintf(w, "  (%d requests per size, arm and round; in process = daemonguard's mutate + validate handlers on the defaulted object, no network)\n", r.growthRequests)
	fmt.Fprintf(w, "  %4s %9s %12s %9s %9s %9s %9s %13s %13s\n", "N", "none p50", "dg p50", "dg added", "dg/none", "vap+map", "vap/none", "in-process", "per container")
	for _, n := range growthSizes {
		nn, dg, an := p50(r.growth[none][n]), p50(r.growth[daemonguard][n]), p50(r.growth[anchor][n])
		fmt.Fprintf(w, "  %4d %9s %12s %9s %8.2fx %9s %8.2fx %11.0fns %11.0fns\n", n,
			ms(time.Duration(nn)), ms(time.Duration(dg)), ms(time.Duration(dg-nn)), ratio(dg, nn),
			ms(time.Duration(an)), ratio(an, nn), r.inProcess[n], r.inProcess[n]/float64(n))
	}
	fmt.Fprintf(w, "\ndaemonguard serve, MiB  %8s %8s %12s %22s\n", "RSS", "own", "binary", "of it 2 MiB-mapped")
	for _, m := range []struct {
		name string
		m    memory
	}{{"idle", r.memIdle}, {"after load", r.memLoad}} {
		fmt.Fprintf(w, "  %-20s %8.1f %8.1f %12.1f %22.1f\n", m.name, m.m.RSS, m.m.Anon, m.m.File, m.m.HugeFile)
	}
	fmt.Fprintf(w, "of it the Go runtime's, MiB  %10s %15s %8s %12s %8s\n", "heap used", "heap unreleased", "stacks", "heap goal", "all")
	for _, m := range []struct {
		name string
		g    goMemory
	}{{"idle", r.memIdle.Go}, {"after load", r.memLoad.Go}} {
		fmt.Fprintf(w, "  %-26s %10.1f %15.1f %8.1f %12.1f %8.1f\n", m.name, m.g.HeapInUse, m.g.HeapUnreleased, m.g.Stacks, m.g.NextGC, m.g.Sys)
	}
	for _, n := range r.notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w)
	for _, l := range r.benchLines() {
		fmt.Fprintln(w, l)
	}
}

// benchLines are the figures `make bench-e2e` ends with.
func (r *results) benchLines() []string {
	var out []string
	add := func(name string, v float64, format string) {
		out = append(out, fmt.Sprintf("BENCH %s "+format, name, v))
	}
	for _, sc := range scenarioOrder {
		add("e2e_"+sc.key+"_ratio", ratio(p50(r.seq[daemonguard][sc.key]), p50(r.seq[none][sc.key])), "%.2f")
	}
	add("e2e_first_apply_vs_null", ratio(p50(r.seq[daemonguard]["first_apply"]), p50(r.seq[null]["first_apply"])), "%.2f")
	add("e2e_null_first_apply_ratio", ratio(p50(r.seq[null]["first_apply"]), p50(r.seq[none]["first_apply"])), "%.2f")
	serveCPU, serveAPIServer := r.cpu[daemonguard].perCreate()
	nullCPU, nullAPIServer := r.cpu[null].perCreate()
	_, noneAPIServer := r.cpu[none].perCreate()
	add("serve_cpu_ms_per_create", serveCPU, "%.3f")
	add("null_cpu_ms_per_create", nullCPU, "%.3f")
	add("apiserver_cpu_ms_per_create", serveAPIServer, "%.3f")
	add("apiserver_cpu_ms_per_create_null", nullAPIServer, "%.3f")
	add("apiserver_cpu_ms_per_create_none", noneAPIServer, "%.3f")
	add("e2e_create_throughput", r.throughput[daemonguard]["first_apply"], "%.0f")
	add("e2e_create_throughput_null", r.throughput[null]["first_apply"], "%.0f")
	add("e2e_throughput_ratio", ratio(r.throughput[daemonguard]["compliant"], r.throughput[none]["compliant"]), "%.2f")
	add("serve_rss_mib", r.memLoad.RSS, "%.1f")
	add("serve_rss_idle_mib", r.memIdle.RSS, "%.1f")
	add("serve_rss_anon_mib", r.memLoad.Anon, "%.1f")
	add("serve_rss_binary_mib", r.memLoad.File, "%.1f")
	add("serve_heap_inuse_mib", r.memLoad.Go.HeapInUse, "%.1f")
	add("serve_heap_unreleased_mib", r.memLoad.Go.HeapUnreleased, "%.1f")
	for _, sc := range scenarioOrder {
		add("e2e_anchor_"+sc.key+"_ratio", ratio(p50(r.seq[anchor][sc.key]), p50(r.seq[none][sc.key])), "%.2f")
	}
	add("e2e_anchor_throughput_ratio", ratio(r.throughput[anchor]["compliant"], r.throughput[none]["compliant"]), "%.2f")
	for _, n := range growthSizes {
		add(fmt.Sprintf("e2e_growth_%d_ratio", n), ratio(p50(r.growth[daemonguard][n]), p50(r.growth[none][n])), "%.2f")
	}
	for _, n := range growthSizes {
		add(fmt.Sprintf("e2e_growth_%d_added_us", n), (p50(r.growth[daemonguard][n])-p50(r.growth[none][n]))/1e3, "%.0f")
	}
	for _, n := range growthSizes {
		add(fmt.Sprintf("inprocess_ns_per_container_%d", n), r.inProcess[n]/float64(n), "%.0f")
	}
	return out
}
