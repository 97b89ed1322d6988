package benchscale

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/daemonguard/daemonguard/test/internal/controlplane"
)

// settings are the sizes of one run, from the environment.
type settings struct {
	nodes      []int
	daemonSets int
	namespaces int
	scans      int
}

func readSettings() (settings, error) {
	s := settings{nodes: []int{1000, 5000}, daemonSets: 2000, namespaces: 40, scans: 3}
	if v := os.Getenv("SCALE_BENCH_NODES"); v != "" {
		s.nodes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 10 {
				return s, fmt.Errorf("SCALE_BENCH_NODES=%q: want numbers ≥ 10, comma-separated", v)
			}
			s.nodes = append(s.nodes, n)
		}
		slices.Sort(s.nodes)
	}
	if v := os.Getenv("SCALE_BENCH_DAEMONSETS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return s, fmt.Errorf("SCALE_BENCH_DAEMONSETS=%q: want a positive number", v)
		}
		s.daemonSets = n
	}
	// 50 DaemonSets per namespace (at most 40 namespaces): about 1,500
	// results per Report, under --reports-max-results, so that nothing is
	// left out of one.
	s.namespaces = min(s.namespaces, max(1, s.daemonSets/50))
	return s, nil
}

// result is what one size measured.
type result struct {
	nodes                int
	heapEmpty, heapNodes uint64 // serve's live heap with no node, with every node
	anonNodes            uint64 // serve's anonymous resident memory with every node
	nodesWritten         time.Duration
	creates              []time.Duration // each DaemonSet create, sorted
	startTime            time.Duration   // serve --reports start to its first pass done
	startWrites          int64
	sameTime             time.Duration // reload of the same policy: every DaemonSet evaluated again
	sameWrites           int64
	changedTime          time.Duration // reload that changes every verdict's action
	changedWrites        int64
	scans                []time.Duration // sorted
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func (r *result) cacheBytes() uint64 {
	if r.heapNodes < r.heapEmpty {
		return 0
	}
	return r.heapNodes - r.heapEmpty
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*q+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// figures are the BENCH figures of r, by name without the size prefix, in
// print order.
func (r *result) figures() [][2]string {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	s := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()) }
	return [][2]string{
		{"node_cache_mib", fmt.Sprintf("%.1f", mib(r.cacheBytes()))},
		{"node_cache_kib_per_node", fmt.Sprintf("%.2f", float64(r.cacheBytes())/1024/float64(r.nodes))},
		{"serve_heap_mib", fmt.Sprintf("%.1f", mib(r.heapNodes))},
		{"serve_rss_anon_mib", fmt.Sprintf("%.1f", mib(r.anonNodes))},
		{"admission_p50_ms", ms(quantile(r.creates, 0.5))},
		{"admission_p99_ms", ms(quantile(r.creates, 0.99))},
		{"reports_start_s", s(r.startTime)},
		{"reports_start_writes", strconv.FormatInt(r.startWrites, 10)},
		{"resync_s", s(r.changedTime)},
		{"resync_writes", strconv.FormatInt(r.changedWrites, 10)},
		{"resync_nochange_s", s(r.sameTime)},
		{"resync_nochange_writes", strconv.FormatInt(r.sameWrites, 10)},
		{"scan_s", s(quantile(r.scans, 0.5))},
	}
}

// growthOf are the figures whose growth from the smallest to the largest
// size is printed, divided by the growth in nodes: at most 1 is at most
// linear.
var growthOf = []string{"node_cache_mib", "admission_p99_ms", "resync_s", "resync_writes", "resync_nochange_s", "reports_start_s", "scan_s"}

// BenchmarkScale measures every size in SCALE_BENCH_NODES, each on a fresh
// control plane, and prints the BENCH lines (see the package comment).
func BenchmarkScale(b *testing.B) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		b.Skip("KUBEBUILDER_ASSETS is not set: run make bench-scale")
	}
	cfg, err := readSettings()
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// Logs and state of every size; kept when the run fails or
	// SCALE_BENCH_KEEP=1.
	work, err := os.MkdirTemp("", "daemonguard-benchscale-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if b.Failed() || os.Getenv("SCALE_BENCH_KEEP") == "1" {
			fmt.Printf("benchscale: logs kept in %s\n", work)
			return
		}
		_ = os.RemoveAll(work)
	})
	bin, err := buildDaemonguard(ctx, work)
	if err != nil {
		b.Fatal(err)
	}
	var results []*result
	for b.Loop() {
		results = results[:0]
		for _, n := range cfg.nodes {
			dir := filepath.Join(work, fmt.Sprintf("%dnodes", n))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			r, err := measure(ctx, bin, dir, n, cfg)
			if err != nil {
				b.Fatalf("%d nodes: %v (logs in %s)", n, err, dir)
			}
			fmt.Printf("benchscale: %d nodes measured in %s\n", n, time.Since(t0).Round(time.Second))
			results = append(results, r)
		}
	}
	var lines []string
	for _, r := range results {
		for _, f := range r.figures() {
			lines = append(lines, fmt.Sprintf("BENCH scale_%dnodes_%s %s", r.nodes, f[0], f[1]))
		}
	}
	if len(results) >= 2 {
		small, large := results[0], results[len(results)-1]
		value := func(r *result, name string) float64 {
			for _, f := range r.figures() {
				if f[0] == name {
					v, _ := strconv.ParseFloat(f[1], 64)
					return v
				}
			}
			return 0
		}
		for _, name := range growthOf {
			lo, hi := value(small, name), value(large, name)
			if lo <= 0 {
				lines = append(lines, fmt.Sprintf("BENCH scale_growth_%s NaN", name))
				continue
			}
			lines = append(lines, fmt.Sprintf("BENCH scale_growth_%s %.2f", name, hi/lo/(float64(large.nodes)/float64(small.nodes))))
		}
	}
	for _, l := range lines {
		fmt.Println(l)
	}
}

// measure runs one size on a control plane of its own.
func measure(ctx context.Context, bin, dir string, nodes int, cfg settings) (*result, error) {
	r := &result{nodes: nodes}
	cpLog, err := os.Create(filepath.Join(dir, "control-plane.log"))
	if err != nil {
		return nil, err
	}
	defer cpLog.Close()
	// etcd on tmpfs when there is one, as the simulated cluster has it:
	// the nodes are thousands of writes.
	etcdDir, err := os.MkdirTemp(shm(), "daemonguard-benchscale-etcd-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(etcdDir)
	crd, err := controlplane.OpenReportsCRDPath()
	if err != nil {
		return nil, err
	}
	env, err := controlplane.Start(ctx, controlplane.Options{NoWebhook: true, ProcessLog: cpLog, EtcdDataDir: etcdDir, CRDPaths: []string{crd}})
	if err != nil {
		return nil, err
	}
	defer func() { _ = env.Stop() }()
	admin, err := kubernetes.NewForConfig(unlimited(env.Config))
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	kc, err := env.Kubeconfig()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return nil, err
	}
	policyFile, err := controlplane.WritePolicy(dir, policy)
	if err != nil {
		return nil, err
	}
	namespaces := []string{controlplane.WebhookNamespace}
	for i := range cfg.namespaces {
		namespaces = append(namespaces, fmt.Sprintf("bench-%02d", i))
	}
	for _, ns := range namespaces {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	addrs, err := newServeAddrs(dir)
	if err != nil {
		return nil, err
	}

	// The node cache and admission: serve without the Reporter.
	serve, err := startServe(bin, kubeconfig, policyFile, dir, addrs, false, "serve-admission")
	if err != nil {
		return nil, err
	}
	defer func() { serve.stop() }()
	if err := registerWebhooks(ctx, admin, addrs); err != nil {
		return nil, err
	}
	if r.heapEmpty, err = serve.settledHeap(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := writeNodes(ctx, admin, nodes); err != nil {
		return nil, err
	}
	r.nodesWritten = time.Since(t0)
	fmt.Printf("benchscale: %d nodes written in %s\n", nodes, r.nodesWritten.Round(100*time.Millisecond))
	if r.heapNodes, err = serve.settledHeap(); err != nil {
		return nil, err
	}
	if r.anonNodes, err = serve.rssAnon(); err != nil {
		return nil, err
	}
	// One client, one connection, no client-side limit: the latency is the
	// API server's and the webhooks'.
	creator, err := kubernetes.NewForConfig(ownConnection(env.Config))
	if err != nil {
		return nil, err
	}
	for i := range cfg.daemonSets {
		ds := daemonSet(namespaces[1+i%cfg.namespaces], i)
		t := time.Now()
		if _, err := creator.AppsV1().DaemonSets(ds.Namespace).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("creating DaemonSet %s/%s: %w", ds.Namespace, ds.Name, err)
		}
		r.creates = append(r.creates, time.Since(t))
	}
	slices.Sort(r.creates)
	fmt.Printf("benchscale: %d DaemonSets created through the webhook, p50 %s p99 %s\n", len(r.creates),
		quantile(r.creates, 0.5).Round(10*time.Microsecond), quantile(r.creates, 0.99).Round(10*time.Microsecond))
	serve.stop()

	// The Reporter: serve again, with --reports, over what is there.
	writes, stopWatch, err := watchReports(ctx, env.Config)
	if err != nil {
		return nil, err
	}
	defer stopWatch()
	if serve, err = startServe(bin, kubeconfig, policyFile, dir, addrs, true, "serve-reports"); err != nil {
		return nil, err
	}
	_, end, err := serve.waitQueue(queueState{}, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	r.startTime, r.startWrites = end.Sub(serve.started), writes.settled()
	if got, err := countReports(ctx, env.Config); err != nil || got != cfg.namespaces {
		return nil, fmt.Errorf("after the Reporter's first pass: %d Reports, want %d (%v)", got, cfg.namespaces, err)
	}
	for _, step := range []struct {
		body    string
		took    *time.Duration
		written *int64
		what    string
	}{
		{body: samePolicy, took: &r.sameTime, written: &r.sameWrites, what: "same policy"},
		{body: changedPolicy, took: &r.changedTime, written: &r.changedWrites, what: "changed policy"},
	} {
		before, err := serve.reportsQueue()
		if err != nil {
			return nil, err
		}
		w0 := writes.settled()
		if _, err := controlplane.WritePolicy(dir, step.body); err != nil {
			return nil, err
		}
		start, end, err := serve.waitQueue(before, 10*time.Minute)
		if err != nil {
			return nil, fmt.Errorf("resync after a reload of the %s: %w", step.what, err)
		}
		*step.took, *step.written = end.Sub(start), writes.settled()-w0
		fmt.Printf("benchscale: resync after a reload of the %s: %s, %d writes\n", step.what, step.took.Round(10*time.Millisecond), *step.written)
	}
	serve.stop()

	for range cfg.scans {
		took, line, err := runScan(bin, kubeconfig, policyFile)
		if err != nil {
			return nil, fmt.Errorf("scan: %v: %s", err, line)
		}
		r.scans = append(r.scans, took)
	}
	slices.Sort(r.scans)
	fmt.Printf("benchscale: scan of %d DaemonSets: %s\n", cfg.daemonSets, quantile(r.scans, 0.5).Round(10*time.Millisecond))
	return r, nil
}

func shm() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return ""
}

// unlimited is cfg with no client-side rate limit, for setting up.
func unlimited(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.QPS, out.Burst = -1, 0
	out.WarningHandler = rest.NoWarnings{}
	return out
}

// ownConnection is unlimited with a dialer of its own, so that client-go
// gives it a transport (and a keep-alive connection) of its own.
func ownConnection(cfg *rest.Config) *rest.Config {
	out := unlimited(cfg)
	out.Dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return out
}

var reportsGVR = schema.GroupVersionResource{Group: "openreports.io", Version: "v1alpha1", Resource: "reports"}

// writeCounter counts the Report writes the API server reports on a watch.
type writeCounter struct {
	mu   sync.Mutex
	n    int64
	last time.Time
}

// settled is the count once no write has been seen for a second (at most
// ten seconds of waiting): the watch trails the writes a little.
func (w *writeCounter) settled() int64 {
	for range 10 {
		w.mu.Lock()
		quiet := time.Since(w.last) > time.Second
		n := w.n
		w.mu.Unlock()
		if quiet {
			return n
		}
		time.Sleep(time.Second)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// watchReports counts every create, update and delete of a Report from now
// on, in every namespace.
func watchReports(ctx context.Context, cfg *rest.Config) (*writeCounter, func(), error) {
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	list, err := dc.Resource(reportsGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, err
	}
	w, err := dc.Resource(reportsGVR).Watch(ctx, metav1.ListOptions{ResourceVersion: list.GetResourceVersion()})
	if err != nil {
		return nil, nil, err
	}
	c := &writeCounter{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			switch ev.Type {
			case watch.Added, watch.Modified, watch.Deleted:
				c.mu.Lock()
				c.n++
				c.last = time.Now()
				c.mu.Unlock()
			}
		}
	}()
	return c, func() { w.Stop(); <-done }, nil
}

func countReports(ctx context.Context, cfg *rest.Config) (int, error) {
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return 0, err
	}
	list, err := dc.Resource(reportsGVR).List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, err
	}
	return len(list.Items), nil
}
