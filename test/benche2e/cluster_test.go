package benche2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/daemonguard/daemonguard/certs"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
)

// webhookConfigurationName is the name of both shipped webhook
// configurations; serve keeps the mutating one's matchConditions.
const webhookConfigurationName = "daemonguard"

// cluster is kube-apiserver and etcd with no admission configured, and one
// `daemonguard serve` child process, idle until an arm registers it.
type cluster struct {
	env   *controlplane.Env
	cfg   *rest.Config
	admin *kubernetes.Clientset // setup, probes and arm switches
	serve *exec.Cmd
	done  chan struct{}
	null  *exec.Cmd // the allow-everything webhook
	// apiserverPID is kube-apiserver's, whose CPU each arm costs too.
	apiserverPID int
	hookURL      string // https://127.0.0.1:port
	caPEM        []byte
	metrics      int // serve's plain-HTTP metrics port
	pprof        int // serve's /debug/pprof port, 0 when not profiling
	// nullURL and nullCount are the allow-everything webhook's TLS base
	// URL and its plain-HTTP /count port.
	nullURL   string
	nullCount int
	// matchConditions is whether serve writes the mutating webhook's
	// matchConditions (--mutating-match-condition=policy, as the chart runs it).
	matchConditions bool
}

// startCluster starts the control plane, builds daemonguard and runs
// `serve` with a fresh CA and serving certificate for 127.0.0.1, as the
// admin (envtest's system:masters user: simpler than the chart's RBAC, and
// no API call of serve's is on the measured path).
func startCluster(ctx context.Context, tb testing.TB, work string) *cluster {
	tb.Helper()
	cpLog, err := os.Create(filepath.Join(work, "control-plane.log"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cpLog.Close() })
	env, err := controlplane.Start(ctx, controlplane.Options{NoWebhook: true, ProcessLog: cpLog})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = env.Stop() })
	c := &cluster{env: env, cfg: clientConfig(env.Config)}
	if c.apiserverPID, err = childPID("kube-apiserver"); err != nil {
		tb.Fatal(err)
	}
	if c.admin, err = kubernetes.NewForConfig(c.cfg); err != nil {
		tb.Fatal(err)
	}
	for _, ns := range []string{controlplane.WebhookNamespace, storedNamespace, createNamespace} {
		if _, err := c.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

// clientConfig is cfg for a client of its own: its own connection (a custom
// dialer keeps client-go from sharing a cached transport) and no client-side
// rate limit, so the API server alone sets the pace; daemonguard's warnings
// are dropped, not logged.
func clientConfig(cfg *rest.Config) *rest.Config {
	out := rest.CopyConfig(cfg)
	out.QPS, out.Burst = -1, 0
	out.WarningHandler = rest.NoWarnings{}
	out.Dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return out
}

// startServe builds daemonguard and starts `serve`, writing the mutating
// webhook's matchConditions if conditions; it returns once /readyz answers
// 200.
func (c *cluster) startServe(ctx context.Context, tb testing.TB, work string, profile, conditions bool) {
	tb.Helper()
	// Built as the image has it, then copied in small writes as an image
	// layer is unpacked: the Go linker writes its output through a memory
	// map (as one large write would), and this kernel then caches it in
	// large folios that it maps with 2 MiB pages, some 60 MiB more RSS than
	// an installed copy has.
	linked := filepath.Join(work, "daemonguard.linked")
	if err := controlplane.BuildDaemonguard(ctx, linked); err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(work, "daemonguard")
	if err := copyFile(linked, bin); err != nil {
		tb.Fatal(err)
	}
	certDir := filepath.Join(work, "certs")
	var err error
	if c.caPEM, err = writeServingCert(certDir); err != nil {
		tb.Fatal(err)
	}
	kubeconfig, err := c.env.Kubeconfig()
	if err != nil {
		tb.Fatal(err)
	}
	kubeconfigPath := filepath.Join(work, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, kubeconfig, 0o600); err != nil {
		tb.Fatal(err)
	}
	port, health := controlplane.MustFreePort(tb), controlplane.MustFreePort(tb)
	c.metrics = controlplane.MustFreePort(tb)
	c.hookURL = fmt.Sprintf("https://127.0.0.1:%d", port)
	args := []string{"serve",
		"--kubeconfig=" + kubeconfigPath,
		"--host=127.0.0.1", fmt.Sprintf("--port=%d", port),
		"--cert-dir=" + certDir, "--cert-name=tls.crt", "--key-name=tls.key",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", health),
		// Plain HTTP, so the harness can count the reviews each request
		// causes without a token.
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", c.metrics), "--metrics-secure=false",
		"--namespace=" + controlplane.WebhookNamespace,
	}
	if profile {
		c.pprof = controlplane.MustFreePort(tb)
		args = append(args, fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", c.pprof))
	}
	if c.matchConditions = conditions && serveKnows(tb, bin, "mutating-match-condition"); c.matchConditions {
		args = append(args, "--mutating-match-condition=policy", "--webhook-configuration-name="+webhookConfigurationName)
	}
	logFile, err := os.Create(filepath.Join(work, "serve.log"))
	if err != nil {
		tb.Fatal(err)
	}
	c.serve = exec.Command(bin, args...)
	c.serve.Stdout, c.serve.Stderr = logFile, logFile
	if err := c.serve.Start(); err != nil {
		tb.Fatal(err)
	}
	c.done = make(chan struct{})
	go func() { _ = c.serve.Wait(); logFile.Close(); close(c.done) }()
	tb.Cleanup(func() {
		_ = c.serve.Process.Signal(syscall.SIGKILL)
		<-c.done
	})
	waitReady(tb, c.done, fmt.Sprintf("http://127.0.0.1:%d/readyz", health), filepath.Join(work, "serve.log"))
}

// startNull builds and starts the allow-everything webhook
// (test/benche2e/nullwebhook) on serve's serving certificate; startServe
// runs first. With a patch file, it answers the mutating review of the
// object named patchName with it.
func (c *cluster) startNull(ctx context.Context, tb testing.TB, work, patch, patchName string) {
	tb.Helper()
	root, err := controlplane.RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(work, "nullwebhook")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./test/benche2e/nullwebhook")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("building the null webhook: %v\n%s", err, out)
	}
	port := controlplane.MustFreePort(tb)
	c.nullCount = controlplane.MustFreePort(tb)
	c.nullURL = fmt.Sprintf("https://127.0.0.1:%d", port)
	certDir := filepath.Join(work, "certs")
	logPath := filepath.Join(work, "nullwebhook.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(bin, fmt.Sprintf("--addr=127.0.0.1:%d", port), fmt.Sprintf("--count-addr=127.0.0.1:%d", c.nullCount),
		"--cert="+filepath.Join(certDir, "tls.crt"), "--key="+filepath.Join(certDir, "tls.key"))
	if patch != "" {
		cmd.Args = append(cmd.Args, "--patch="+patch, "--patch-name="+patchName)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	c.null = cmd
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logFile.Close(); close(done) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	})
	waitReady(tb, done, fmt.Sprintf("http://127.0.0.1:%d/count", c.nullCount), logPath)
}

// nullReviews is how many reviews the null webhook has answered.
func (c *cluster) nullReviews(tb testing.TB) int {
	tb.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/count", c.nullCount))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(body)))
	if err != nil {
		tb.Fatalf("null webhook /count: %q: %v", body, err)
	}
	return n
}

// cpu is what the processes on the admission path have used so far: the
// webhook that arm a calls (serve, the null webhook; none for the others)
// and kube-apiserver.
func (c *cluster) cpu(tb testing.TB, a arm) (webhook, apiserver time.Duration) {
	tb.Helper()
	switch a {
	case daemonguard:
		webhook = processCPU(tb, c.serve.Process.Pid)
	case null:
		webhook = processCPU(tb, c.null.Process.Pid)
	}
	return webhook, processCPU(tb, c.apiserverPID)
}

// processCPU is the CPU time process pid has used so far, user and system.
func processCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The fields after the command's closing parenthesis; utime and stime
	// are the 14th and 15th of the whole line, in clock ticks (USER_HZ,
	// 100 on Linux).
	_, rest, ok := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		tb.Fatalf("/proc/%d/stat: %q", pid, data)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		tb.Fatalf("/proc/%d/stat: %q", pid, data)
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// childPID is the one child process of this test named comm (envtest
// starts kube-apiserver and etcd and does not say their PIDs).
func childPID(comm string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // gone since the listing
		}
		name, rest, ok := strings.Cut(string(data), ") ")
		f := strings.Fields(rest)
		if !ok || len(f) < 2 || !strings.HasSuffix(name, "("+comm) {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == os.Getpid() {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("want one child process %q of this test, found %d", comm, len(found))
	}
	return found[0], nil
}

// profile saves CPU profiles over d (taken while the caller loads the
// arm) into dir: kube-apiserver's, as <arm>-apiserver-cpu.pprof, and for
// daemonguard's arm serve's CPU and then allocation profile.
func (c *cluster) profile(tb testing.TB, dir string, d time.Duration, a arm) (wait func()) {
	tb.Helper()
	seconds := max(int(d.Seconds()), 1)
	save := func(file string, body io.ReadCloser) error {
		defer body.Close()
		out, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, body); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	}
	getServe := func(path, file string) error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/%s", c.pprof, path))
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return fmt.Errorf("%s: %s", path, resp.Status)
		}
		return save(file, resp.Body)
	}
	prefix := strings.ReplaceAll(a.String(), " ", "-")
	errc := make(chan error, 2)
	go func() {
		body, err := c.admin.RESTClient().Get().AbsPath("/debug/pprof/profile").
			Param("seconds", strconv.Itoa(seconds)).Timeout(d + time.Minute).Stream(context.Background())
		if err == nil {
			err = save(prefix+"-apiserver-cpu.pprof", body)
		}
		errc <- err
	}()
	go func() {
		var err error
		if a == daemonguard && c.pprof != 0 {
			err = getServe(fmt.Sprintf("profile?seconds=%d", seconds), "serve-cpu.pprof")
			if err == nil {
				err = getServe("allocs", "serve-allocs.pprof")
			}
		}
		errc <- err
	}()
	return func() {
		for range 2 {
			if err := <-errc; err != nil {
				tb.Fatalf("profiling the %s arm: %v", a, err)
			}
		}
		fmt.Printf("bench-e2e: the %s arm's profiles in %s (go tool pprof -top %s)\n", a, dir, filepath.Join(dir, prefix+"-apiserver-cpu.pprof"))
	}
}

// copyFile copies src to an executable dst in 32 KiB writes, as
// containerd unpacks an image layer, and removes src.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	buf := make([]byte, 32<<10)
	for {
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err := out.Write(buf[:n]); err != nil {
				out.Close()
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			out.Close()
			return rerr
		}
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Remove(src)
}

// serveKnows reports whether `serve -h` lists flag.
func serveKnows(tb testing.TB, bin, flag string) bool {
	tb.Helper()
	out, _ := exec.Command(bin, "serve", "-h").CombinedOutput()
	return strings.Contains(string(out), "-"+flag+" ")
}

func waitReady(tb testing.TB, exited <-chan struct{}, url, logPath string) {
	tb.Helper()
	hc := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := hc.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			tb.Fatalf("%s exited (log %s)", url, logPath)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not ready within 30s (log %s)", url, logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeServingCert writes tls.crt and tls.key for 127.0.0.1 into dir and
// returns the CA that signed them.
func writeServingCert(dir string) ([]byte, error) {
	now := time.Now()
	ca, err := certs.NewCA("daemonguard-bench-ca", now, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	serving, err := certs.NewServing(ca, certs.ServingNames{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, now, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	if _, err := certs.WriteFiles(dir, map[string][]byte{"tls.crt": serving.CertPEM, "tls.key": serving.KeyPEM}); err != nil {
		return nil, err
	}
	return ca.CertPEM, nil
}

// memory is serve's resident set, in MiB, and what it is made of.
type memory struct {
	// RSS is VmRSS: all of it.
	RSS float64
	// Anon is the process's own memory: heap, stacks, runtime.
	Anon float64
	// File is its binary's pages (clean, shared, reclaimable), and of them
	// HugeFile those the kernel maps with 2 MiB pages (FilePmdMapped): a
	// kernel with large folios for executables maps nearly all of the
	// text and read-only data that way, whatever the process touches.
	File, HugeFile float64
	// Go is the Go runtime's account of Anon, from serve's metrics.
	Go goMemory
}

// goMemory is what the Go runtime says of serve's own memory, in MiB
// (runtime.MemStats through go_memstats_*): the heap's spans in use, its
// free spans not yet returned to the kernel (the scavenger returns them
// slowly, and not below the heap goal), goroutine stacks, the heap goal
// (NextGC) and everything the runtime holds (Sys).
type goMemory struct {
	HeapInUse, HeapUnreleased, Stacks, NextGC, Sys float64
}

// memory reads serve's memory from /proc/PID/smaps_rollup.
func (c *cluster) memory(tb testing.TB) memory {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", c.serve.Process.Pid))
	if err != nil {
		tb.Fatal(err)
	}
	kb := map[string]float64{}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				kb[strings.TrimSuffix(f[0], ":")] = v
			}
		}
	}
	if kb["Rss"] == 0 {
		tb.Fatalf("no Rss in /proc/%d/smaps_rollup", c.serve.Process.Pid)
	}
	g := c.gauges(tb, "go_memstats_heap_inuse_bytes", "go_memstats_heap_idle_bytes", "go_memstats_heap_released_bytes",
		"go_memstats_stack_sys_bytes", "go_memstats_next_gc_bytes", "go_memstats_sys_bytes")
	const mib = 1 << 20
	return memory{RSS: kb["Rss"] / 1024, Anon: kb["Anonymous"] / 1024,
		File: (kb["Rss"] - kb["Anonymous"]) / 1024, HugeFile: kb["FilePmdMapped"] / 1024,
		Go: goMemory{HeapInUse: g["go_memstats_heap_inuse_bytes"] / mib,
			HeapUnreleased: (g["go_memstats_heap_idle_bytes"] - g["go_memstats_heap_released_bytes"]) / mib,
			Stacks:         g["go_memstats_stack_sys_bytes"] / mib, NextGC: g["go_memstats_next_gc_bytes"] / mib, Sys: g["go_memstats_sys_bytes"] / mib}}
}

// gauges reads the named unlabelled metrics from serve's /metrics; a name
// it does not serve fails the benchmark.
func (c *cluster) gauges(tb testing.TB, names ...string) map[string]float64 {
	tb.Helper()
	out := map[string]float64{}
	c.scrape(tb, func(line string) {
		name, value, ok := strings.Cut(line, " ")
		if !ok || !slices.Contains(names, name) {
			return
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			tb.Fatalf("metrics line %q: %v", line, err)
		}
		out[name] = v
	})
	for _, n := range names {
		if _, ok := out[n]; !ok {
			tb.Fatalf("serve's /metrics has no %s", n)
		}
	}
	return out
}

// scrape hands each line of serve's /metrics to line.
func (c *cluster) scrape(tb testing.TB, line func(string)) {
	tb.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", c.metrics))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line(sc.Text())
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
}

// reviews counts the admission reviews serve has answered, by webhook
// (mutate, validate), and the seconds it spent answering them ("mutate
// seconds", "validate seconds"), from its metrics.
func (c *cluster) reviews(tb testing.TB) map[string]float64 {
	tb.Helper()
	out := map[string]float64{}
	c.scrape(tb, func(line string) {
		// Counts under the webhook's name, seconds spent answering under
		// its name plus " seconds".
		suffix := ""
		rest, ok := strings.CutPrefix(line, "daemonguard_admission_reviews_total{")
		if !ok {
			if rest, ok = strings.CutPrefix(line, "daemonguard_admission_review_duration_seconds_sum{"); !ok {
				return
			}
			suffix = " seconds"
		}
		labels, value, _ := strings.Cut(rest, "} ")
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			tb.Fatalf("metrics line %q: %v", line, err)
		}
		for _, l := range strings.Split(labels, ",") {
			if name, ok := strings.CutPrefix(l, `webhook="`); ok {
				out[strings.TrimSuffix(name, `"`)+suffix] += v
			}
		}
	})
	return out
}
