package faults

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestRollingRestartUnderLoad restarts three replicas one by one, twice, the
// way the chart's Deployment rolls (maxSurge 1, maxUnavailable 0): a new pod
// becomes ready and joins the endpoints; the old pod is marked terminating,
// leaves the endpoints a moment later (new connections stop, established ones
// stay), gets SIGTERM after the preStop sleep and must exit within the grace
// period. Meanwhile a client loop runs dry-run creates through the API
// server. Not one may fail.
func TestRollingRestartUnderLoad(t *testing.T) {
	tm := timing.scaled()
	// Endpoints drop a terminating pod a little after it is marked: the
	// endpoint controller and kube-proxy each take their turn.
	propagation := tm.PreStop / 3
	reps := replicas(t, 3, replicaOptions{})
	l := startLoad(t, pick(4, 6))
	time.Sleep(pick(time.Second, 5*time.Second))

	rounds := pick(2, 5)
	var slowestExit time.Duration
	for round := 0; round < rounds; round++ {
		for i := range reps {
			old := reps[i]
			next := startReplica(t, fmt.Sprintf("round%d-r%d", round, i), replicaOptions{})
			next.waitReady(t)
			time.Sleep(tm.MinReady)
			lb.Add(next.port)

			// The old pod is deleted: preStop runs, endpoints follow.
			go func() {
				time.Sleep(propagation)
				lb.Remove(old.port)
			}()
			time.Sleep(tm.PreStop)
			sigterm := time.Now()
			if err := old.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			// Through the shutdown delay: not ready, still serving TLS.
			if tm.ShutdownDelay >= 200*time.Millisecond {
				time.Sleep(tm.ShutdownDelay / 4)
				if code := old.readyz(); code != http.StatusInternalServerError {
					t.Errorf("replica %s: /readyz = %d during the shutdown delay, want 500", old.name, code)
				}
				if err := tlsReachable(old.port); err != nil {
					t.Errorf("replica %s stopped serving during the shutdown delay: %v", old.name, err)
				}
			}
			remaining := tm.Grace - tm.PreStop
			if !old.waitExit(remaining) {
				t.Errorf("replica %s still running %s after SIGTERM (grace %s - preStop %s): the kubelet would SIGKILL it", old.name, remaining, tm.Grace, tm.PreStop)
				_ = old.cmd.Process.Signal(syscall.SIGKILL)
				<-old.done
			} else if old.exitErr != nil {
				t.Errorf("replica %s exited with %v after SIGTERM (log %s)", old.name, old.exitErr, old.logPath)
			}
			slowestExit = max(slowestExit, time.Since(sigterm))
			reps[i] = next
		}
	}
	time.Sleep(pick(500*time.Millisecond, 5*time.Second))
	l.finish()
	failed := l.report(t)
	total := l.ok.Load() + failed
	bench(t, "rolling_restart_restarts", rounds*len(reps))
	bench(t, "rolling_restart_requests", total)
	bench(t, "rolling_restart_failed", failed)
	bench(t, "rolling_restart_max_latency_ms", time.Duration(l.maxLatency.Load()).Milliseconds())
	bench(t, "rolling_restart_slowest_exit_after_sigterm_ms", slowestExit.Milliseconds())
	if total < 50 {
		t.Errorf("only %d calls made: the load did not run", total)
	}
	if failed != 0 {
		t.Errorf("%d of %d admission calls failed during %d rolling restarts; want 0", failed, total, rounds*len(reps))
	}
	if max := time.Duration(l.maxLatency.Load()); max >= apiTimeout {
		t.Errorf("slowest call took %s, at or beyond the webhook timeout %s", max, apiTimeout)
	}
}

// TestSIGKILLUnderLoad kills one of three replicas with SIGKILL under load.
// The calls that fail are at most those in flight then plus the connections
// the balancer still sent to the dead endpoint before it was removed (the API
// server does not retry a webhook call that failed on the wire: its client
// retries only GETs, and failurePolicy Fail turns the error into a rejection);
// once the endpoint is gone every call succeeds on the other two.
func TestSIGKILLUnderLoad(t *testing.T) {
	reps := replicas(t, 3, replicaOptions{})
	l := startLoad(t, pick(4, 6))
	time.Sleep(pick(time.Second, 5*time.Second))

	victim := reps[1]
	inflight := l.inflight.Load()
	before := l.failed.Load()
	killed := time.Now()
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-victim.done
	// The kubelet sees the container die and the endpoint goes (PLEG and
	// the endpoint controller; about a second).
	detection := pick(time.Second, 2*time.Second)
	time.Sleep(detection)
	lb.Remove(victim.port)
	removed := time.Now()
	time.Sleep(pick(2*time.Second, 10*time.Second))
	l.finish()
	l.report(t)

	failed := l.failed.Load() - before
	dials := lb.FailedDials(victim.port)
	after := l.failuresAfter(removed.Add(200 * time.Millisecond))
	total := l.ok.Load() + l.failed.Load()
	bench(t, "sigkill_requests", total)
	bench(t, "sigkill_failed", failed)
	bench(t, "sigkill_inflight_at_kill", inflight)
	bench(t, "sigkill_dials_to_dead_endpoint", dials)
	bench(t, "sigkill_failed_after_endpoint_removed", after)
	t.Logf("killed at %s; %d calls in flight; %d failed; %d connections routed to the dead endpoint before removal; %d failures after removal",
		killed.Format("15:04:05.000"), inflight, failed, dials, after)
	if failed > inflight+int64(dials) {
		t.Errorf("%d calls failed, more than the %d in flight at the kill plus the %d connections sent to the dead endpoint", failed, inflight, dials)
	}
	if after != 0 {
		t.Errorf("%d calls failed after the dead endpoint was removed; want 0", after)
	}
	// And the next calls, one by one, all succeed.
	ns := namespace(t)
	for i := 0; i < 20; i++ {
		one := &load{stop: make(chan struct{})}
		one.call(ns, "after-kill")
		if one.failed.Load() != 0 {
			t.Fatalf("call %d after the kill failed: %s", i, one.failures[0].err)
		}
	}
}

// tlsReachable completes a TLS handshake with a replica's webhook port.
func tlsReachable(port int) error {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return err
	}
	return conn.Close()
}
