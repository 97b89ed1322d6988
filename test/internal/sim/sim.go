// Package sim starts a simulated Kubernetes cluster on the local machine for
// the suites and `make sim-up`: etcd and kube-apiserver (through
// test/internal/controlplane, with the ServiceAccount admission plugin on),
// the real kube-controller-manager (DaemonSet, node lifecycle and service
// account controllers among all the others) and kube-scheduler, and kwok,
// which plays the kubelet of fake nodes of declared shapes (Shapes). Images
// are names only: nothing is pulled or run, pods turn Running on paper, so
// tests assert on the API (pods, node names, events, status).
//
// Every process is a child of the caller, in its own process group, logging
// into the state directory; every wait is bounded; Stop kills them all.
package sim

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/test/internal/controlplane"
)

//go:embed stages/*.yaml
var stages embed.FS

// Options configure Start.
type Options struct {
	// Nodes is how many fake nodes to create, in the shapes of Shapes().
	Nodes int
	// StateDir holds logs, the admin kubeconfig, configuration files and the
	// pids of the processes; the caller owns it. Empty: a temporary
	// directory that Stop removes.
	StateDir string
	// Webhook also runs daemonguard's webhook in this process and registers
	// the shipped webhook configurations (as make dev-up does).
	Webhook bool
	// PolicyFile and PolicyPollInterval are the webhook's (see
	// controlplane.Options).
	PolicyFile         string
	PolicyPollInterval time.Duration
	// Log receives the webhook's and envtest's logs; nil discards them.
	Log io.Writer
	// ReadyTimeout bounds the whole start; 0 means 3 minutes.
	ReadyTimeout time.Duration
	// NoKwok starts no kwok and no fake nodes (Nodes must be 0): the
	// control plane with the real controller-manager and scheduler, for a
	// caller that brings a real kubelet (test/internal/node).
	NoKwok bool
	// NoNodeLeases turns kwok's node leases off, which cost about 0.7 core
	// at 1,000 nodes; the node lifecycle controller is then told to wait an
	// hour for a heartbeat instead, so that nodes stay Ready all the same.
	// For large benchmarks only: a node then never turns NotReady by falling
	// silent.
	NoNodeLeases bool
}

// Cluster is a running simulated cluster.
type Cluster struct {
	*controlplane.Env
	// Kubeconfig is the path of an admin (system:masters) kubeconfig.
	Kubeconfig string
	// Dir is the state directory.
	Dir string

	ownDir  bool
	etcdDir string
	mu      sync.Mutex
	procs   []*proc
}

type proc struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
	err  error
}

// Binary finds a tool hack/tools.sh built: next to kube-apiserver in
// KUBEBUILDER_ASSETS (`hack/tools.sh path` links the sim tools there).
func Binary(name string) (string, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return "", errors.New("KUBEBUILDER_ASSETS is not set: run through make, or: hack/tools.sh ensure sim && export KUBEBUILDER_ASSETS=$(hack/tools.sh path)")
	}
	p := filepath.Join(assets, name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not built: run hack/tools.sh ensure sim (then hack/tools.sh path links it into %s)", name, assets)
	}
	return p, nil
}

// Start brings the cluster up and returns once every node is Ready and
// untainted by the node lifecycle controller, the scheduler is healthy and
// the default namespace has its ServiceAccount.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	bins := map[string]string{}
	if opts.NoKwok && opts.Nodes != 0 {
		return nil, errors.New("sim: NoKwok with fake nodes")
	}
	for _, b := range []string{"kube-controller-manager", "kube-scheduler", "kwok"} {
		if b == "kwok" && opts.NoKwok {
			continue
		}
		if bins[b], err = Binary(b); err != nil {
			return nil, err
		}
	}
	c := &Cluster{}
	if c.Dir, c.ownDir, err = controlplane.StateDir(opts.StateDir, "daemonguard-sim-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = c.Stop()
		}
	}()
	// etcd on tmpfs when there is one: the suites write thousands of objects.
	shm := "/dev/shm"
	if st, err := os.Stat(shm); err != nil || !st.IsDir() {
		shm = ""
	}
	if c.etcdDir, err = os.MkdirTemp(shm, "daemonguard-sim-etcd-"); err != nil {
		return nil, err
	}
	cpLog, err := os.Create(filepath.Join(c.Dir, "kube-apiserver-etcd.log"))
	if err != nil {
		return nil, err
	}
	c.track(&proc{name: "kube-apiserver-etcd-log", log: cpLog})
	c.Env, err = controlplane.Start(ctx, controlplane.Options{
		NoWebhook: !opts.Webhook, PolicyFile: opts.PolicyFile, PolicyPollInterval: opts.PolicyPollInterval,
		Log: opts.Log, ServiceAccountAdmission: true, EtcdDataDir: c.etcdDir, ProcessLog: cpLog,
	})
	if err != nil {
		return nil, err
	}
	kubeconfig, err := c.Env.Kubeconfig()
	if err != nil {
		return nil, err
	}
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return nil, err
	}

	// kwok renews each node's Lease, as a kubelet does, and posts node
	// status only every ten minutes or so (its heartbeat stage); without
	// leases, the node lifecycle controller marks every node Unknown after
	// its grace period (50 s), taints it unreachable and marks its pods not
	// ready, and kwok flips it back: all nodes flap about once a minute and
	// daemon pods stay not ready.
	nodeGrace, leaseSeconds := 50*time.Second, "40"
	if opts.NoNodeLeases {
		nodeGrace, leaseSeconds = time.Hour, "0"
	}
	kcmPort, err := controlplane.FreePort()
	if err != nil {
		return nil, err
	}
	if err := c.spawn("kube-controller-manager", bins["kube-controller-manager"],
		"--kubeconfig="+c.Kubeconfig,
		"--controllers=*",
		"--use-service-account-credentials=false",
		"--leader-elect=false",
		"--kube-api-qps=500", "--kube-api-burst=1000",
		"--concurrent-daemonset-syncs=4",
		"--flex-volume-plugin-dir="+filepath.Join(c.Dir, "flexvolume"),
		"--cert-dir="+filepath.Join(c.Dir, "kube-controller-manager"),
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(kcmPort),
		"--node-monitor-grace-period="+nodeGrace.String(),
	); err != nil {
		return nil, err
	}
	schedPort, err := controlplane.FreePort()
	if err != nil {
		return nil, err
	}
	schedConfig := filepath.Join(c.Dir, "kube-scheduler.yaml")
	if err := os.WriteFile(schedConfig, []byte(fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 500
  burst: 1000
leaderElection:
  leaderElect: false
`, c.Kubeconfig)), 0o644); err != nil {
		return nil, err
	}
	if err := c.spawn("kube-scheduler", bins["kube-scheduler"],
		"--config="+schedConfig,
		"--cert-dir="+filepath.Join(c.Dir, "kube-scheduler"),
		"--bind-address=127.0.0.1", "--secure-port="+strconv.Itoa(schedPort),
	); err != nil {
		return nil, err
	}
	kwokArgs := []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + KwokAnnotation + "=fake",
		// kwok's default pod range has 254 addresses: not enough for a few
		// DaemonSets on 100 nodes.
		"--cidr=10.64.0.1/12",
		"--node-ip=10.32.0.1",
		"--node-lease-duration-seconds=" + leaseSeconds,
	}
	stageDir := filepath.Join(c.Dir, "kwok-stages")
	files, err := writeStages(stageDir)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		kwokArgs = append(kwokArgs, "--config="+f)
	}
	if !opts.NoKwok {
		if err := c.spawn("kwok", bins["kwok"], kwokArgs...); err != nil {
			return nil, err
		}
	}

	for name, port := range map[string]int{"kube-controller-manager": kcmPort, "kube-scheduler": schedPort} {
		if err := c.waitHealthy(ctx, name, port); err != nil {
			return nil, err
		}
	}
	if err := WaitServiceAccount(ctx, c.Client, "default"); err != nil {
		return nil, err
	}
	if err := c.CreateNodes(ctx, Nodes(Shapes(), opts.Nodes)); err != nil {
		return nil, err
	}
	if err := c.WaitNodesReady(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func writeStages(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	entries, err := stages.ReadDir("stages")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		b, err := stages.ReadFile("stages/" + e.Name())
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, e.Name())
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// spawn starts a child in its own process group, output to <Dir>/<name>.log,
// and records its pid in <Dir>/pids.
func (c *Cluster) spawn(name, bin string, args ...string) error {
	logFile, err := os.Create(filepath.Join(c.Dir, name+".log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logFile, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	c.track(p)
	f, err := os.OpenFile(filepath.Join(c.Dir, "pids"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%d %s\n", cmd.Process.Pid, name)
	return err
}

func (c *Cluster) track(p *proc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.procs = append(c.procs, p)
}

// exited returns an error naming the first child that is no longer running.
func (c *Cluster) exited() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if p.done == nil {
			continue
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v); see %s", p.name, p.err, p.log.Name())
		default:
		}
	}
	return nil
}

// poll calls cond every interval until it returns true, an error, a child
// process dies, or ctx ends; what names the wait in the error.
func (c *Cluster) poll(ctx context.Context, what string, interval time.Duration, cond func() (bool, error)) error {
	var last error
	for {
		ok, err := cond()
		if err != nil {
			last = err
		}
		if ok {
			return nil
		}
		if err := c.exited(); err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), last)
			}
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}

func (c *Cluster) waitHealthy(ctx context.Context, name string, port int) error {
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		// The components' self-signed serving certificates; loopback only.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", port)
	return c.poll(ctx, name+" /healthz", 200*time.Millisecond, func() (bool, error) {
		resp, err := hc.Get(url)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Errorf("%s", resp.Status)
	})
}

// CreateNodes creates the nodes, a few at a time.
func (c *Cluster) CreateNodes(ctx context.Context, nodes []*corev1.Node) error {
	sem := make(chan struct{}, 16)
	errs := make(chan error, len(nodes))
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.Client.Create(ctx, n.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
				errs <- fmt.Errorf("creating node %s: %w", n.Name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return errors.Join(drain(errs)...)
}

func drain(ch chan error) []error {
	var out []error
	for err := range ch {
		out = append(out, err)
	}
	return out
}

// WaitNodesReady waits until every kwok node reports Ready and the node
// lifecycle controller has removed its not-ready/unreachable taints: only
// then does the DaemonSet controller want pods there.
func (c *Cluster) WaitNodesReady(ctx context.Context) error {
	var pending []string
	return c.poll(ctx, "nodes to be Ready", 250*time.Millisecond, func() (bool, error) {
		var list corev1.NodeList
		if err := c.Client.List(ctx, &list); err != nil {
			return false, err
		}
		pending = pending[:0]
		for i := range list.Items {
			if !Ready(&list.Items[i]) {
				pending = append(pending, list.Items[i].Name)
			}
		}
		if len(pending) > 0 {
			return false, fmt.Errorf("%d of %d nodes not ready yet (%s)", len(pending), len(list.Items), strings.Join(first(pending, 5), ", "))
		}
		return true, nil
	})
}

func first(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}

// Ready reports whether node's Ready condition is True and it carries no
// not-ready or unreachable taint.
func Ready(node *corev1.Node) bool {
	for _, t := range node.Spec.Taints {
		if t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// WaitServiceAccount waits (up to a minute) for namespace's default
// ServiceAccount, which the ServiceAccount admission plugin requires of every
// pod and the controller-manager creates.
func WaitServiceAccount(ctx context.Context, c client.Client, namespace string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: "default"}, &corev1.ServiceAccount{})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s has no default ServiceAccount after a minute (is kube-controller-manager running?): %v", namespace, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// CreateNamespace creates a namespace and waits for its default
// ServiceAccount.
func (c *Cluster) CreateNamespace(ctx context.Context, name string) error {
	if err := c.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		return err
	}
	return WaitServiceAccount(ctx, c.Client, name)
}

// ListNodes returns the cluster's nodes, as pointers for the nodes package.
func (c *Cluster) ListNodes(ctx context.Context) ([]*corev1.Node, error) {
	var list corev1.NodeList
	if err := c.Client.List(ctx, &list); err != nil {
		return nil, err
	}
	out := make([]*corev1.Node, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// Stop kills the controller-manager, scheduler and kwok (SIGTERM, then
// SIGKILL to their process groups after 10 s), stops the API server and etcd
// (and the webhook), and removes etcd's data and a temporary state
// directory.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	for _, p := range procs {
		if p.cmd != nil {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		}
	}
	var errs []error
	deadline := time.After(10 * time.Second)
	for _, p := range procs {
		if p.cmd == nil {
			continue
		}
		select {
		case <-p.done:
		case <-deadline:
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			errs = append(errs, fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.cmd.Process.Pid))
		}
	}
	if c.Env != nil {
		errs = append(errs, c.Env.Stop())
	}
	for _, p := range procs {
		p.log.Close()
	}
	if c.etcdDir != "" {
		errs = append(errs, os.RemoveAll(c.etcdDir))
	}
	if c.ownDir {
		errs = append(errs, os.RemoveAll(c.Dir))
	}
	return errors.Join(errs...)
}
