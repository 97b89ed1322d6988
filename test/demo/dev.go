package main

import (
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
	"github.com/daemonguard/daemonguard/webhook"
	"github.com/daemonguard/daemonguard/webhook/config"
)

// The dev environment keeps its state in .dev/ at the repository root:
// pid, the background process's log, the policy file it serves (edit it:
// the webhook reloads it), the admin kubeconfig, and ready once a DaemonSet
// create was mutated end to end.
func devDir() (string, error) {
	root, err := controlplane.RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, ".dev"), nil
}

// startDev starts runDev in its own session and waits until it is ready.
func startDev() error {
	dir, err := devDir()
	if err != nil {
		return err
	}
	if pid, err := readPid(dir); err == nil && alive(pid) {
		return fmt.Errorf("already running (pid %d); run make dev-down first", pid)
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
	logFile, err := os.Create(filepath.Join(dir, "dev.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(self, "--dev-run")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own session: it outlives this command, and dev-down can stop the
	// whole group (kube-apiserver and etcd are its children).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Println("starting kube-apiserver, etcd and the daemonguard webhook in the background ...")
	deadline := time.After(3 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the dev environment exited during start (%v); see %s", err, logFile.Name())
		case <-deadline:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			return fmt.Errorf("not ready within 3 minutes; see %s", logFile.Name())
		case <-time.After(200 * time.Millisecond):
		}
	}
	fmt.Printf(`ready: a DaemonSet create was mutated end to end (pid %d)
  kubeconfig: %[2]s/kubeconfig   (export KUBECONFIG=%[2]s/kubeconfig)
  policy:     %[2]s/policy.yaml  (edit it; the webhook reloads it within a second)
  log:        %[2]s/dev.log
  reports:    kubectl get reports -A   (one OpenReports Report per namespace with DaemonSets)
  scan:       go run ./cmd/daemonguard scan --kubeconfig %[2]s/kubeconfig
stop with: make dev-down
`, cmd.Process.Pid, dir)
	return nil
}

// runDev is the background process: it runs until SIGTERM or SIGINT.
func runDev() error {
	dir, err := devDir()
	if err != nil {
		return err
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(policyFile, []byte(devPolicy), 0o644); err != nil {
		return err
	}
	if _, err := config.Load(policyFile); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	crd, err := controlplane.OpenReportsCRDPath()
	if err != nil {
		return err
	}
	// The Reporter runs too, with the OpenReports CRD installed: the
	// Reports appear as DaemonSets do (kubectl get reports -A).
	env, err := controlplane.Start(ctx, controlplane.Options{
		PolicyFile: policyFile, PolicyPollInterval: 500 * time.Millisecond, Log: os.Stdout,
		CRDPaths: []string{crd}, Reports: webhook.ReportsOptions{Enabled: true},
	})
	if err != nil {
		return err
	}
	defer env.Stop()
	kubeconfig, err := env.Kubeconfig()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "kubeconfig"), kubeconfig, 0o600); err != nil {
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

const devPolicy = `# daemonguard policy for the dev environment: the defaults. Edit and save;
# the webhook reloads it. See README.md for every field.
apiVersion: daemonguard.io/v1alpha1
kind: Policy
`

// stopDev stops the background process group and removes .dev.
func stopDev() error {
	dir, err := devDir()
	if err != nil {
		return err
	}
	pid, err := readPid(dir)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Println("nothing running")
		return os.RemoveAll(dir)
	}
	if err != nil {
		return err
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for i := 0; i < 150 && alive(pid); i++ {
		time.Sleep(200 * time.Millisecond)
	}
	// Whatever is left of the group (kube-apiserver, etcd) goes too.
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	fmt.Printf("stopped (pid %d) and removed %s\n", pid, dir)
	return nil
}

func readPid(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }
