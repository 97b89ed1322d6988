package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/sim"
	"github.com/daemonguard/daemonguard/webhook"
)

// env is an environment that `--X-up` starts in the background and
// `--X-down` stops: make dev-up / dev-down and make sim-up / sim-down. Its
// state lives in a directory at the repository root: pid, the background
// process's log, the policy file the webhook serves (edit it: the webhook
// reloads it), the admin kubeconfig, and ready once it is usable.
type env struct {
	name    string // dev, sim: the directory is .<name>, the flags --<name>-up/-run/-down
	what    string // what is starting, for the user
	timeout time.Duration
	// start brings the environment up in the background process, with its
	// webhook serving policyFile, and returns a stop function once it is
	// ready; it writes the admin kubeconfig into dir.
	start func(ctx context.Context, dir, policyFile string) (stop func() error, err error)
	// readyNote is printed on the ready line; hints under it.
	readyNote string
	hints     string
	// runArgs are passed on to the background process.
	runArgs []string
}

var devEnv = env{
	name:    "dev",
	what:    "kube-apiserver, etcd and the daemonguard webhook",
	timeout: 3 * time.Minute,
	start: func(ctx context.Context, dir, policyFile string) (func() error, error) {
		crd, err := controlplane.OpenReportsCRDPath()
		if err != nil {
			return nil, err
		}
		// The Reporter runs too, with the OpenReports CRD installed: the
		// Reports appear as DaemonSets do (kubectl get reports -A).
		e, err := controlplane.Start(ctx, controlplane.Options{
			PolicyFile: policyFile, PolicyPollInterval: 500 * time.Millisecond, Log: os.Stdout,
			CRDPaths: []string{crd}, Reports: webhook.ReportsOptions{Enabled: true},
		})
		if err != nil {
			return nil, err
		}
		kubeconfig, err := e.Kubeconfig()
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "kubeconfig"), kubeconfig, 0o600)
		}
		if err != nil {
			_ = e.Stop()
			return nil, err
		}
		return e.Stop, nil
	},
	readyNote: "a DaemonSet create was mutated end to end",
	hints: `  reports:    kubectl get reports -A   (one OpenReports Report per namespace with DaemonSets)
  scan:       go run ./cmd/daemonguard scan --kubeconfig DIR/kubeconfig
`,
}

// defaultSimNodes is the size of the simulated cluster make sim-up leaves
// running; SIM_NODES=n overrides it.
const defaultSimNodes = 100

// simEnv is the simulated cluster of n nodes with the webhook registered.
func simEnv(n int) env {
	return env{
		name:    "sim",
		what:    fmt.Sprintf("a simulated cluster (kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok with %d nodes) and the daemonguard webhook", n),
		timeout: 4*time.Minute + time.Duration(n)*100*time.Millisecond,
		start: func(ctx context.Context, dir, policyFile string) (func() error, error) {
			c, err := sim.Start(ctx, sim.Options{
				Nodes: n, StateDir: dir, Webhook: true,
				PolicyFile: policyFile, PolicyPollInterval: 500 * time.Millisecond, Log: os.Stdout,
				ReadyTimeout: 3*time.Minute + time.Duration(n)*100*time.Millisecond,
			})
			if err != nil {
				return nil, err
			}
			return c.Stop, nil
		},
		readyNote: simReadyNote(n),
		runArgs:   []string{"--sim-nodes=" + strconv.Itoa(n)},
	}
}

func simReadyNote(n int) string {
	shapes := sim.Shapes()
	counts := sim.Counts(shapes, n)
	parts := make([]string, len(shapes))
	for i, s := range shapes {
		parts[i] = fmt.Sprintf("%d %s", counts[i], s.Pool)
	}
	return fmt.Sprintf("%d nodes Ready (%s), the webhook mutating DaemonSets", n, strings.Join(parts, ", "))
}

func (e env) dir() (string, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "."+e.name), nil
}

// up starts `--<name>-run` in its own session and waits until it is ready.
func (e env) up() error {
	dir, err := e.dir()
	if err != nil {
		return err
	}
	if pid, err := readPid(dir); err == nil && alive(pid) {
		return fmt.Errorf("already running (pid %d); run make %s-down first", pid, e.name)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, e.name+".log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(self, append([]string{"--" + e.name + "-run"}, e.runArgs...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own session: it outlives this command, and <name>-down can stop
	// the whole group (kube-apiserver and etcd are its children).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Printf("starting %s in the background ...\n", e.what)
	start := time.Now()
	deadline := time.After(e.timeout)
	for {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the %s environment exited during start (%v); see %s", e.name, err, logFile.Name())
		case <-deadline:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			killChildren(dir)
			return fmt.Errorf("not ready within %s; see %s", e.timeout, logFile.Name())
		case <-time.After(200 * time.Millisecond):
		}
	}
	fmt.Printf(`ready in %s: %s (pid %d)
  kubeconfig: %[4]s/kubeconfig   (export KUBECONFIG=%[4]s/kubeconfig)
  policy:     %[4]s/policy.yaml  (edit it; the webhook reloads it within a second)
  log:        %[5]s
%[7]sstop with: make %[6]s-down
`, time.Since(start).Round(100*time.Millisecond), e.readyNote, cmd.Process.Pid, dir, logFile.Name(), e.name, strings.ReplaceAll(e.hints, "DIR", dir))
	return nil
}

// run is the background process: it runs until SIGTERM or SIGINT.
func (e env) run() error {
	dir, err := e.dir()
	if err != nil {
		return err
	}
	policyFile, err := controlplane.WritePolicy(dir, devPolicy)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	stopEnv, err := e.start(ctx, dir, policyFile)
	if err != nil {
		return err
	}
	defer func() {
		if err := stopEnv(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping: %v\n", err)
		}
	}()
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

const devPolicy = `# daemonguard policy for the dev environment: the defaults. Edit and save;
# the webhook reloads it. See README.md for every field.
apiVersion: daemonguard.io/v1alpha1
kind: Policy
`

// down stops the background process group and removes the state directory.
func (e env) down() error {
	dir, err := e.dir()
	if err != nil {
		return err
	}
	pid, err := readPid(dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Println("nothing running")
		killChildren(dir)
		return os.RemoveAll(dir)
	}
	if err != nil {
		return err
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 150 && alive(pid); i++ {
		time.Sleep(200 * time.Millisecond)
	}
	graceful := !alive(pid)
	// Whatever is left of the group (kube-apiserver, etcd) goes too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if !graceful {
		killChildren(dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	fmt.Printf("stopped (pid %d) and removed %s\n", pid, dir)
	return nil
}

// killChildren kills the process groups listed in <dir>/pids (the simulated
// cluster's kube-controller-manager, kube-scheduler and kwok, each in a group
// of its own) when the background process could not stop them itself.
func killChildren(dir string) {
	f, err := os.Open(filepath.Join(dir, "pids"))
	if err != nil {
		return
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) == 0 {
			continue
		}
		if pid, err := strconv.Atoi(fields[0]); err == nil && pid > 1 && alive(pid) {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
}

func readPid(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }
