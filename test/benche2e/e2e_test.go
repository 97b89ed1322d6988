package benche2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/review"
	"github.com/daemonguard/daemonguard/test/dstest"
)

// settings size the run; each is overridable from the environment. The
// defaults take about four minutes on two cores.
type settings struct {
	rounds         int           // BENCH_E2E_ROUNDS: each arm, each round
	requests       int           // BENCH_E2E_REQUESTS: timed sequential requests per scenario, arm and round
	warmup         int           // BENCH_E2E_WARMUP: untimed requests before them
	growthRequests int           // BENCH_E2E_GROWTH_REQUESTS: timed requests per size, arm and round
	clients        int           // BENCH_E2E_CLIENTS: concurrent clients for throughput
	duration       time.Duration // BENCH_E2E_THROUGHPUT_DURATION: per scenario, arm and round
	profile        string        // BENCH_E2E_PROFILE: a directory for CPU profiles of kube-apiserver (each arm) and serve (and its allocations) under the first-apply throughput load
	// noConditions (BENCH_E2E_NO_MATCH_CONDITIONS=1) runs daemonguard's
	// arm without matchConditions on either webhook: what evaluating them
	// costs kube-apiserver on a first apply, which calls both webhooks anyway.
	noConditions bool
	// nullPatches (BENCH_E2E_NULL_PATCHES=1) has the null pair answer the
	// first apply with daemonguard's own patch: the floor for a pair that
	// makes the same change, which the API server must then apply.
	nullPatches bool
}

func settingsFromEnv(tb testing.TB) settings {
	tb.Helper()
	s := settings{rounds: 5, requests: 100, warmup: 10, growthRequests: 30, clients: 8, duration: 3 * time.Second}
	for name, p := range map[string]*int{
		"BENCH_E2E_ROUNDS": &s.rounds, "BENCH_E2E_REQUESTS": &s.requests, "BENCH_E2E_WARMUP": &s.warmup,
		"BENCH_E2E_GROWTH_REQUESTS": &s.growthRequests, "BENCH_E2E_CLIENTS": &s.clients,
	} {
		if v := os.Getenv(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				tb.Fatalf("%s=%q: want a positive integer", name, v)
			}
			*p = n
		}
	}
	if v := os.Getenv("BENCH_E2E_THROUGHPUT_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			tb.Fatalf("BENCH_E2E_THROUGHPUT_DURATION=%q: want a positive duration", v)
		}
		s.duration = d
	}
	s.profile = os.Getenv("BENCH_E2E_PROFILE")
	s.noConditions = os.Getenv("BENCH_E2E_NO_MATCH_CONDITIONS") == "1"
	s.nullPatches = os.Getenv("BENCH_E2E_NULL_PATCHES") == "1"
	return s
}

// BenchmarkE2E is `make bench-e2e`. It runs once whatever b.N is (the
// Makefile passes -benchtime=1x): its rounds are its repetitions.
func BenchmarkE2E(b *testing.B) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		b.Skip("KUBEBUILDER_ASSETS is not set: run `make bench-e2e`")
	}
	s := settingsFromEnv(b)
	ctx := context.Background()
	work, err := os.MkdirTemp("", "daemonguard-bench-e2e-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if b.Failed() {
			fmt.Printf("bench-e2e: logs kept in %s\n", work)
			return
		}
		os.RemoveAll(work)
	})
	c := startCluster(ctx, b, work)
	res := newResults(s)
	res.version = c.serverVersion(b)

	// The growth objects as the API server sends them to a webhook
	// (defaulted), for the in-process figures; no admission is in force yet.
	defaulted := map[int]*appsv1.DaemonSet{}
	for _, n := range growthSizes {
		ds := dstest.ManyContainers(n)
		ds.Namespace = createNamespace
		out, err := c.admin.AppsV1().DaemonSets(createNamespace).Create(ctx, ds,
			metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			b.Fatal(err)
		}
		defaulted[n] = out
	}

	exporter, gpu := seed(b, "node-exporter.yaml"), seed(b, "gpu-monitor.yaml")
	nullPatch := ""
	if s.nullPatches {
		nullPatch = writeFirstApplyPatch(ctx, b, c, work, exporter)
	}
	c.startServe(ctx, b, work, s.profile != "", !s.noConditions)
	c.startNull(ctx, b, work, nullPatch, exporter.Name)
	res.nullPatches = s.nullPatches
	res.matchConditions = c.matchConditions
	res.memIdle = c.memory(b)
	adm := loadAdmission(b, c.hookURL, c.nullURL, c.caPEM, !s.noConditions)
	c.switchTo(ctx, b, adm, daemonguard)
	scenarios := []scenario{
		{name: "first apply (needs mutation, host access)", key: "first_apply", do: dryRunCreate(createNamespace, createBody(b, exporter))},
		{name: "compliant re-apply, host access", key: "compliant_hostaccess", do: apply(exporter.Name, storeCompliant(ctx, b, c.admin, exporter))},
		{name: "compliant re-apply, no host access", key: "compliant", do: apply(gpu.Name, storeCompliant(ctx, b, c.admin, gpu))},
	}
	reapplies := scenarios[1:]
	// The first apply makes "gitops" an owner (a write); later ones change
	// nothing, which the resource versions show at the end.
	versions := map[string]string{}
	for _, sc := range reapplies {
		if err := sc.do(ctx, c.admin); err != nil {
			b.Fatal(err)
		}
	}
	for _, name := range []string{exporter.Name, gpu.Name} {
		versions[name] = resourceVersion(ctx, b, c.admin, name)
	}
	growth := map[int]func(context.Context, *kubernetes.Clientset) error{}
	for _, n := range growthSizes {
		growth[n] = dryRunCreate(createNamespace, createBody(b, dstest.ManyContainers(n)))
	}

	seq, err := kubernetes.NewForConfig(clientConfig(c.cfg))
	if err != nil {
		b.Fatal(err)
	}
	for round := range s.rounds {
		for _, a := range order(round) {
			c.switchTo(ctx, b, adm, a)
			if a == daemonguard {
				c.waitMatchConditionsInForce(ctx, b, scenarios[2])
			}
			for _, sc := range scenarios {
				before := c.reviews(b)
				res.seq[a][sc.key] = append(res.seq[a][sc.key], sequential(ctx, b, seq, sc.do, s.warmup, s.requests)...)
				if a == daemonguard {
					res.addCalls(sc.key, before, c.reviews(b), s.warmup+s.requests)
				}
			}
			for _, n := range growthSizes {
				res.growth[a][n] = append(res.growth[a][n], sequential(ctx, b, seq, growth[n], s.warmup, s.growthRequests)...)
			}
		}
	}
	for round := range s.rounds {
		for _, a := range order(round) {
			c.switchTo(ctx, b, adm, a)
			if a == daemonguard {
				c.waitMatchConditionsInForce(ctx, b, scenarios[2])
			}
			for _, sc := range scenarios {
				profiled := func() {}
				if sc.key == "first_apply" && round == 0 && s.profile != "" {
					profiled = c.profile(b, s.profile, s.duration, a)
				}
				hook, apiserver := c.cpu(b, a)
				rate, n := throughput(ctx, b, c.cfg, sc.do, s.clients, s.duration)
				if sc.key == "first_apply" {
					hook2, apiserver2 := c.cpu(b, a)
					res.cpu[a].webhook += hook2 - hook
					res.cpu[a].apiserver += apiserver2 - apiserver
					res.cpu[a].creates += n
				}
				profiled()
				res.throughput[a][sc.key] += rate / float64(s.rounds)
			}
		}
	}
	res.memLoad = c.memory(b)
	for name, rv := range versions {
		if now := resourceVersion(ctx, b, c.admin, name); now != rv {
			res.notes = append(res.notes, fmt.Sprintf("%s/%s: resourceVersion %s -> %s: some re-applies wrote to etcd", storedNamespace, name, rv, now))
		}
	}
	for _, n := range growthSizes {
		res.inProcess[n] = inProcessNs(b, defaulted[n])
	}
	res.print(os.Stdout)
}

// waitMatchConditionsInForce waits, when serve manages the mutating
// webhook's matchConditions, until the API server skips the mutating
// webhook for sc (a compliant re-apply): its configuration is recreated
// each round, and serve rewrites them after.
func (c *cluster) waitMatchConditionsInForce(ctx context.Context, tb testing.TB, sc scenario) {
	tb.Helper()
	if !c.matchConditions {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		before := c.reviews(tb)
		if err := sc.do(ctx, c.admin); err != nil {
			tb.Fatal(err)
		}
		if c.reviews(tb)["mutate"] == before["mutate"] {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s still reaches the mutating webhook 30s after its matchConditions were written", sc.name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// serverVersion is kube-apiserver's git version, for the report.
func (c *cluster) serverVersion(tb testing.TB) string {
	tb.Helper()
	v, err := c.admin.Discovery().ServerVersion()
	if err != nil {
		tb.Fatal(err)
	}
	return v.GitVersion
}

// writeFirstApplyPatch writes into work the JSONPatch daemonguard's default
// policy answers the first apply of ds with, as the API server sends it
// (defaulted, by a dry-run create while no admission is in force), and
// returns the file's path.
func writeFirstApplyPatch(ctx context.Context, tb testing.TB, c *cluster, work string, ds *appsv1.DaemonSet) string {
	tb.Helper()
	ds = ds.DeepCopy()
	ds.Namespace = createNamespace
	out, err := c.admin.AppsV1().DaemonSets(createNamespace).Create(ctx, ds, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := policy.New(config.Defaults(), policy.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	req, err := review.Decode(dstest.ReviewBody(tb, admissionv1.Create, createNamespace, marshal(tb, out), nil))
	if err != nil {
		tb.Fatal(err)
	}
	patch := review.Mutate(ctx, p, req).Response.Patch
	if len(patch) == 0 {
		tb.Fatalf("daemonguard does not patch the first apply of %s", ds.Name)
	}
	path := filepath.Join(work, "first-apply.patch.json")
	if err := os.WriteFile(path, patch, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
