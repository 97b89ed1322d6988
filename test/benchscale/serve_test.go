package benchscale

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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/daemonguard/daemonguard/certs"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
)

// buildDaemonguard builds ./cmd/daemonguard into dir as the image has it.
func buildDaemonguard(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "daemonguard")
	return bin, controlplane.BuildDaemonguard(ctx, bin)
}

// serveAddrs are the ports one serve listens on; they stay the same across
// restarts, so that the webhook configurations keep pointing at it.
type serveAddrs struct {
	port, health, metrics, pprof int
	certDir                      string
	caPEM                        []byte
}

func newServeAddrs(dir string) (*serveAddrs, error) {
	a := &serveAddrs{certDir: filepath.Join(dir, "certs")}
	for _, p := range []*int{&a.port, &a.health, &a.metrics, &a.pprof} {
		var err error
		if *p, err = controlplane.FreePort(); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	ca, err := certs.NewCA("daemonguard-benchscale-ca", now, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	serving, err := certs.NewServing(ca, certs.ServingNames{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}, now, 24*time.Hour)
	if err != nil {
		return nil, err
	}
	if _, err := certs.WriteFiles(a.certDir, map[string][]byte{"tls.crt": serving.CertPEM, "tls.key": serving.KeyPEM}); err != nil {
		return nil, err
	}
	a.caPEM = ca.CertPEM
	return a, nil
}

func (a *serveAddrs) hookURL() string { return fmt.Sprintf("https://127.0.0.1:%d", a.port) }

// serveProc is one running `daemonguard serve`.
type serveProc struct {
	cmd     *exec.Cmd
	done    chan struct{}
	addrs   *serveAddrs
	started time.Time
	log     string
}

// startServe runs serve as the chart does (node checks on, the mutating
// webhook's matchConditions kept from the policy) with the admin
// kubeconfig, the policy file polled every 200 ms, plain-HTTP metrics and
// pprof on loopback, and no shutdown delay; reports turns the Reporter on.
// It returns once /readyz answers 200, which needs the node cache synced.
func startServe(bin, kubeconfig, policyFile, dir string, addrs *serveAddrs, reports bool, name string) (*serveProc, error) {
	args := []string{"serve",
		"--kubeconfig=" + kubeconfig,
		"--host=127.0.0.1", fmt.Sprintf("--port=%d", addrs.port),
		"--cert-dir=" + addrs.certDir, "--cert-name=tls.crt", "--key-name=tls.key",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", addrs.health),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", addrs.metrics), "--metrics-secure=false",
		fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", addrs.pprof),
		"--namespace=" + controlplane.WebhookNamespace,
		"--config=" + policyFile, "--config-poll-interval=200ms",
		"--shutdown-delay=0s",
		"--node-checks=true",
		"--mutating-match-condition=policy", "--webhook-configuration-name=" + webhookConfigurationName,
	}
	if reports {
		args = append(args, "--reports")
	}
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	s := &serveProc{cmd: exec.Command(bin, args...), done: make(chan struct{}), addrs: addrs, log: logPath}
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	s.started = time.Now()
	if err := s.cmd.Start(); err != nil {
		logFile.Close()
		return nil, err
	}
	go func() { _ = s.cmd.Wait(); logFile.Close(); close(s.done) }()
	hc := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if resp, err := hc.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", addrs.health)); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("serve exited before it was ready (log %s)", logPath)
		default:
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("serve not ready within 2 minutes (log %s)", logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM, and SIGKILL after 15 s.
func (s *serveProc) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	}
}

// liveHeap forces a GC in serve (/debug/pprof/heap?gc=1) and returns the
// heap in use right after it: runtime.MemStats.HeapAlloc, which the text
// form of the heap profile prints once the collection is done.
func (s *serveProc) liveHeap() (uint64, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap?gc=1&debug=1", s.addrs.pprof))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("heap profile: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no HeapAlloc in serve's heap profile")
}

// settledHeap is liveHeap once two readings a second apart agree within
// 1% (at most 20 readings): the informer has taken in what was written.
func (s *serveProc) settledHeap() (uint64, error) {
	last, err := s.liveHeap()
	if err != nil {
		return 0, err
	}
	for range 20 {
		time.Sleep(time.Second)
		h, err := s.liveHeap()
		if err != nil {
			return 0, err
		}
		if diff := int64(h) - int64(last); diff < int64(last)/100 && -diff < int64(last)/100 {
			return h, nil
		}
		last = h
	}
	return last, nil
}

// rssAnon is serve's own resident memory (heap, stacks, runtime), in bytes,
// from /proc/PID/smaps_rollup: what the pod's memory limit sees besides the
// binary's clean pages.
func (s *serveProc) rssAnon() (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "Anonymous:" {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no Anonymous in /proc/%d/smaps_rollup", s.cmd.Process.Pid)
}

// queueState is the Reporter's work queue, from serve's metrics
// (controller-runtime's workqueue metrics, queue daemonguard-reports).
type queueState struct {
	adds, done, depth float64
	found             bool
}

// idle reports whether everything added to the queue has been processed.
func (q queueState) idle() bool { return q.found && q.depth == 0 && q.done >= q.adds }

func (s *serveProc) reportsQueue() (queueState, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", s.addrs.metrics))
	if err != nil {
		return queueState{}, err
	}
	defer resp.Body.Close()
	var q queueState
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, `name="daemonguard-reports"`) {
			continue
		}
		metric, _, _ := strings.Cut(line, "{")
		_, value, _ := strings.Cut(line, "} ")
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil {
			continue
		}
		switch metric {
		case "workqueue_adds_total":
			q.adds, q.found = v, true
		case "workqueue_work_duration_seconds_count":
			q.done = v
		case "workqueue_depth":
			q.depth = v
		}
	}
	return q, sc.Err()
}

// waitQueue polls the Reporter's queue every 50 ms until it has started
// work past before (adds grew) and then stayed idle for half a second (the
// Reporter's own Report updates come back through its watch and queue the
// namespace once more); it returns when the first addition and the start of
// that idle stretch were seen. A bounded wait: limit.
func (s *serveProc) waitQueue(before queueState, limit time.Duration) (start, end time.Time, err error) {
	deadline := time.Now().Add(limit)
	var idleSince time.Time
	for {
		now := time.Now()
		q, err := s.reportsQueue()
		if err != nil {
			return start, end, err
		}
		if start.IsZero() && q.found && q.adds > before.adds {
			start = now
		}
		switch {
		case start.IsZero() || !q.idle():
			idleSince = time.Time{}
		case idleSince.IsZero():
			idleSince = now
		case now.Sub(idleSince) >= 500*time.Millisecond:
			return start, idleSince, nil
		}
		select {
		case <-s.done:
			return start, end, fmt.Errorf("serve exited (log %s)", s.log)
		default:
		}
		if now.After(deadline) {
			return start, end, fmt.Errorf("the Reporter's queue was not idle within %s (last %+v; log %s)", limit, q, s.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// runScan runs `daemonguard scan -o json` over the whole cluster with the
// bench's policy file, output discarded, and returns its wall time and how
// many DaemonSets it reviewed (from its closing progress line).
func runScan(bin, kubeconfig, policyFile string) (time.Duration, string, error) {
	cmd := exec.Command(bin, "scan", "--kubeconfig="+kubeconfig, "--config="+policyFile, "-o", "json")
	cmd.Stdout = io.Discard
	var stderr strings.Builder
	cmd.Stderr = &stderr
	t0 := time.Now()
	err := cmd.Run()
	elapsed := time.Since(t0)
	// Exit 1 means something would be denied: a verdict, not a failure.
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 {
		err = nil
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	return elapsed, lines[len(lines)-1], err
}
