// Command nodeup is `make node-up` / `make node-down`: a real node
// (containerd, runc, a real kubelet in a scratch root of its own, see
// test/internal/node) with its control plane and daemonguard's webhook, left
// running in the background for manual work. Its state is .node/ at the
// repository root: the admin kubeconfig, the policy the webhook serves (edit
// it: it is reloaded), the logs, the node's root (.node/root).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/node"
)

const policy = `# daemonguard policy for make node-up: the defaults. Edit and save; the
# webhook reloads it within a second. Add exemptions to run attack DaemonSets.
apiVersion: daemonguard.io/v1alpha1
kind: Policy
`

// startTimeout bounds node-up: the control plane, the probe build, the
// node's registration.
const startTimeout = 5 * time.Minute

func main() {
	node.RunInitIfRequested()
	fs := flag.NewFlagSet("nodeup", flag.ExitOnError)
	up := fs.Bool("up", false, "start the node in the background; ready when this exits 0")
	down := fs.Bool("down", false, "stop what --up started and remove .node/")
	runFg := fs.Bool("run", false, "internal: the background process --up starts")
	_ = fs.Parse(os.Args[1:])
	var err error
	switch {
	case *up:
		err = startBackground()
	case *down:
		err = stop()
	case *runFg:
		err = run()
	default:
		fs.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "nodeup: %v\n", err)
		os.Exit(1)
	}
}

func stateDir() (string, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".node"), nil
}

func readPid(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// startBackground starts `nodeup --run` in its own session and waits until
// it has written .node/ready.
func startBackground() error {
	if err := node.Requirements(); err != nil {
		return err
	}
	dir, err := stateDir()
	if err != nil {
		return err
	}
	if pid, err := readPid(dir); err == nil && alive(pid) {
		return fmt.Errorf("already running (pid %d); run make node-down first", pid)
	}
	if _, err := os.Stat(filepath.Join(dir, "root")); err == nil {
		return fmt.Errorf("%s/root exists from a node that was not stopped: run make node-down", dir)
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
	logFile, err := os.Create(filepath.Join(dir, "node.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(self, "--run")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Println("starting a real node (containerd, runc, kubelet) with kube-apiserver, etcd, kube-controller-manager, kube-scheduler and the daemonguard webhook ...")
	start := time.Now()
	deadline := time.After(startTimeout + 30*time.Second)
	for {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the node exited during start (%v); see %s", err, logFile.Name())
		case <-deadline:
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
			return fmt.Errorf("not ready within %s; see %s (make node-down cleans up)", startTimeout, logFile.Name())
		case <-time.After(250 * time.Millisecond):
		}
	}
	fmt.Printf(`ready in %s: node %s Ready, images %s and %s imported (pid %d)
  kubeconfig: %[6]s/kubeconfig   (export KUBECONFIG=%[6]s/kubeconfig)
  policy:     %[6]s/policy.yaml  (edit it; the webhook reloads it within a second)
  node root:  %[6]s/root         (the node's /: hostPaths resolve here)
  logs:       %[6]s/node.log, %[6]s/logs/{init,containerd,kubelet}.log
  pods use image %[3]s with imagePullPolicy: Never
stop with: make node-down
`, time.Since(start).Round(100*time.Millisecond), node.Name, node.ProbeImage, node.PauseImage, cmd.Process.Pid, dir)
	return nil
}

// run is the background process: it keeps the node until SIGTERM or SIGINT.
func run() error {
	dir, err := stateDir()
	if err != nil {
		return err
	}
	policyFile, err := controlplane.WritePolicy(dir, policy)
	if err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	n, err := node.Start(ctx, node.Options{
		StateDir: dir, PolicyFile: policyFile, PolicyPollInterval: 500 * time.Millisecond,
		Log: os.Stdout, ReadyTimeout: startTimeout,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := n.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping: %v\n", err)
		}
	}()
	if err := os.Symlink(filepath.Join("control-plane", "kubeconfig"), filepath.Join(dir, "kubeconfig")); err != nil {
		return err
	}
	var nd corev1.Node
	if err := n.Client.Get(ctx, client.ObjectKey{Name: node.Name}, &nd); err != nil {
		return err
	}
	for _, img := range nd.Status.Images {
		fmt.Printf("node image: %v\n", img.Names)
	}
	if err := writeChildren(dir); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// stop sends SIGTERM to the background process and waits (bounded) for it
// to stop the node and the control plane; then removes .node/.
func stop() error {
	dir, err := stateDir()
	if err != nil {
		return err
	}
	pid, err := readPid(dir)
	if err == nil && alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		deadline := time.Now().Add(90 * time.Second)
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if alive(pid) {
			return fmt.Errorf("pid %d did not stop within 90s; see %s/node.log", pid, dir)
		}
	}
	// Should the background process have died without stopping them, its
	// children (kube-apiserver, etcd, the controller-manager, the
	// scheduler) are still running: stop them, by the pids it recorded.
	killChildren(dir)
	// Its node's init died with it (its parent-death signal); what the
	// node may have left behind (a bridge, cgroups, the root) is removed
	// here.
	if _, err := os.Stat(dir); err == nil {
		if err := node.Cleanup(dir); err != nil {
			return fmt.Errorf("cleaning up %s: %w", dir, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Println("node stopped; .node/ removed")
	return nil
}

// writeChildren records this process's children (pid and program) in
// .node/children, so that --down can stop them should this process die
// without stopping them.
func writeChildren(dir string) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	var lines []string
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil || !strings.Contains(string(status), fmt.Sprintf("\nPPid:\t%d\n", os.Getpid())) {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil {
			lines = append(lines, fmt.Sprintf("%d %s", pid, exe))
		}
		// etcd's data directory (on /dev/shm, outside .node) goes with it.
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		for _, arg := range strings.Split(string(cmdline), "\x00") {
			if d, ok := strings.CutPrefix(arg, "--data-dir="); ok && strings.Contains(filepath.Base(d), "daemonguard-sim-etcd-") {
				lines = append(lines, "data-dir "+d)
			}
		}
	}
	return os.WriteFile(filepath.Join(dir, "children"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// killChildren kills the process group of every recorded child still
// running the same program (a pid reused by another program is left
// alone).
func killChildren(dir string) {
	b, err := os.ReadFile(filepath.Join(dir, "children"))
	if err != nil {
		return
	}
	var dataDirs []string
	for _, line := range strings.Split(string(b), "\n") {
		pidStr, exe, ok := strings.Cut(line, " ")
		if pidStr == "data-dir" {
			dataDirs = append(dataDirs, exe)
			continue
		}
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 1 {
			continue
		}
		if now, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && now == exe {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Bounded: their exit is immediate after SIGKILL.
	time.Sleep(500 * time.Millisecond)
	for _, d := range dataDirs {
		_ = os.RemoveAll(d)
	}
}
