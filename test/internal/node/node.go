// Package node starts a real Kubernetes node for the suites and `make
// node-up`: containerd and runc (the distribution's packages) and a real
// kubelet (built from the Go module proxy by hack/tools.sh, the same
// Kubernetes as kube-apiserver), registered to a control plane with the real
// kube-controller-manager and kube-scheduler and daemonguard's webhook from
// the shipped configurations (test/internal/sim without kwok).
//
// Isolation is the point: the node's root filesystem is a scratch directory
// in a private mount namespace and a PID namespace of its own, as kind gives
// each node a container. The machine's /usr is bound read-only; /etc, /var,
// /run, /opt, /home, /root, /tmp, /srv and /mnt are the node's own, so every
// hostPath a pod mounts — and every file an attack plants — is the node's,
// never the machine's. The node shares the machine's network namespace (the
// kubelet reaches kube-apiserver on loopback); its pods get a bridge of
// their own, deleted on Stop. Stop kills the namespace's init, which takes
// every process of the node with it (containerd's shims and the containers
// included), and the node's mounts vanish with the namespace; then the
// bridge, the node's cgroups and the scratch directory are removed.
//
// Root is needed (namespaces, mounts, cgroups, the bridge). The images come
// from no registry: the probe program (./probe) is built and imported as
// ProbeImage and PauseImage; pods use imagePullPolicy: Never.
package node

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/sim"
)

// Name is the node's name.
const Name = "dg-node"

// Options configure Start.
type Options struct {
	// StateDir holds the control plane's state and logs, the node's logs
	// and its root (StateDir/root); the caller owns it. Empty: a temporary
	// directory that Stop removes.
	StateDir string
	// PolicyFile and PolicyPollInterval are the webhook's (see
	// controlplane.Options).
	PolicyFile         string
	PolicyPollInterval time.Duration
	// Log receives the webhook's and envtest's logs; nil discards them.
	Log io.Writer
	// ReadyTimeout bounds the whole start; 0 means 4 minutes.
	ReadyTimeout time.Duration
	// Tmpfs are node paths a tmpfs is mounted on before the kubelet starts.
	Tmpfs []string
	// Devices are machine device nodes bound into the node's /dev.
	Devices []string
	// Prepare, when set, is called with the node's root (a machine path)
	// after the node's directories exist and before anything runs there:
	// plant the files the tests need.
	Prepare func(root string) error
}

// Node is a running node and its control plane.
type Node struct {
	*sim.Cluster
	// Root is the machine path of the node's /.
	Root string
	// Logs holds containerd.log, kubelet.log and init.log.
	Logs string

	dir         string
	ownDir      bool
	bridge      string
	cgroup      string
	init        *exec.Cmd
	initDone    chan struct{}
	initErr     error
	initLog     *os.File
	stopOnce    sync.Once
	stopErr     error
	kubeletPort int
}

// Requirements says what this machine lacks to run a node, or nil.
func Requirements() error {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (namespaces, mounts, cgroups and a bridge)")
	}
	for _, b := range []string{"/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2", "/usr/bin/ctr", "/usr/sbin/runc"} {
		if _, err := os.Stat(b); err != nil {
			if _, err := exec.LookPath(filepath.Base(b)); err != nil {
				missing = append(missing, b)
			}
		}
	}
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, p)); err != nil {
			missing = append(missing, filepath.Join(cniBinDir, p))
		}
	}
	if _, err := exec.LookPath("ip"); err != nil {
		missing = append(missing, "ip (iproute2)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("this machine cannot run the node suite: missing %s (apt-get install containerd runc containernetworking-plugins iproute2, run as root; DAEMONGUARD_NO_NODE=1 skips the node suite)", strings.Join(missing, ", "))
	}
	return nil
}

// cniBinDir is where Debian's containernetworking-plugins installs.
const cniBinDir = "/usr/lib/cni"

// Start brings the control plane and the node up and returns once the node
// is Ready, untainted, and lists the imported images.
func Start(ctx context.Context, opts Options) (_ *Node, err error) {
	if err := Requirements(); err != nil {
		return nil, err
	}
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = 4 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	kubeletBin, err := sim.Binary("kubelet")
	if err != nil {
		return nil, fmt.Errorf("%w (hack/tools.sh ensure kubelet)", err)
	}
	if kubeletBin, err = filepath.EvalSymlinks(kubeletBin); err != nil {
		return nil, err
	}
	repo, err := controlplane.RepoRoot()
	if err != nil {
		return nil, err
	}
	n := &Node{}
	if n.dir, n.ownDir, err = controlplane.StateDir(opts.StateDir, "daemonguard-node-"); err != nil {
		return nil, err
	}
	if n.dir, err = filepath.Abs(n.dir); err != nil {
		return nil, err
	}
	// A root left by a node that was not stopped may belong to one still
	// running: never start over it (nor remove it on the way out).
	if _, err := os.Stat(filepath.Join(n.dir, "root")); err == nil {
		return nil, fmt.Errorf("%s exists: a node ran here and was not cleaned up (node.Cleanup, or make node-down, once nothing runs there)", filepath.Join(n.dir, "root"))
	}
	n.Root, n.Logs = filepath.Join(n.dir, "root"), filepath.Join(n.dir, "logs")
	sum := sha256.Sum256([]byte(n.dir))
	n.bridge, n.cgroup = outsideNames(n.dir)
	defer func() {
		if err != nil {
			if serr := n.Stop(); serr != nil {
				err = fmt.Errorf("%w (and stopping: %v)", err, serr)
			}
		}
	}()
	if err := os.MkdirAll(n.Logs, 0o755); err != nil {
		return nil, err
	}

	n.Cluster, err = sim.Start(ctx, sim.Options{
		StateDir: filepath.Join(n.dir, "control-plane"), Webhook: true, NoKwok: true,
		PolicyFile: opts.PolicyFile, PolicyPollInterval: opts.PolicyPollInterval, Log: opts.Log,
		ReadyTimeout: timeout,
	})
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	kubeconfig, err := os.ReadFile(n.Kubeconfig)
	if err != nil {
		return nil, err
	}
	probe, err := buildProbe(repo, n.dir)
	if err != nil {
		return nil, err
	}
	archive := filepath.Join(n.dir, "images.tar")
	if err := writeImages(probe, archive); err != nil {
		return nil, fmt.Errorf("writing the images: %w", err)
	}
	if n.kubeletPort, err = controlplane.FreePort(); err != nil {
		return nil, err
	}
	healthzPort, err := controlplane.FreePort()
	if err != nil {
		return nil, err
	}
	subnet := fmt.Sprintf("10.%d.%d.0/24", 200+int(sum[3]%50), sum[4])
	if err := n.layout(kubeconfig, healthzPort, subnet); err != nil {
		return nil, fmt.Errorf("preparing the node's root: %w", err)
	}
	if opts.Prepare != nil {
		if err := opts.Prepare(n.Root); err != nil {
			return nil, fmt.Errorf("preparing the node's root: %w", err)
		}
	}
	if err := n.makeCgroups(); err != nil {
		return nil, err
	}
	if err := n.startInit(kubeletBin, opts); err != nil {
		return nil, err
	}
	if err := n.waitFor(ctx, "containerd's socket", func() (bool, error) {
		_, err := os.Stat(n.ContainerdSocket())
		return err == nil, err
	}); err != nil {
		return nil, err
	}
	if out, err := n.Ctr(ctx, "images", "import", "--no-unpack=false", archive); err != nil {
		return nil, fmt.Errorf("importing the images: %v: %s", err, out)
	}
	if err := n.waitFor(ctx, "node "+Name+" Ready with the imported images", func() (bool, error) {
		node := &corev1.Node{}
		if err := n.Client.Get(ctx, client.ObjectKey{Name: Name}, node); err != nil {
			return false, err
		}
		if !sim.Ready(node) {
			return false, errors.New("not Ready yet")
		}
		if missing := MissingImages(node); len(missing) > 0 {
			return false, fmt.Errorf("status.images lacks %v", missing)
		}
		return true, nil
	}); err != nil {
		return nil, err
	}
	return n, nil
}

// outsideNames are the names of what a node in dir keeps outside it: its
// bridge and its cgroup parent. They derive from dir, so two nodes never
// share them and Cleanup finds them again.
func outsideNames(dir string) (bridge, cgroup string) {
	sum := sha256.Sum256([]byte(dir))
	id := hex.EncodeToString(sum[:3])
	return "dgn" + id, "daemonguard-node-" + id
}

// Cleanup removes what a node whose process died without Stop left in
// dir and on the machine (its bridge, its cgroups, its root), once its init
// is gone: its mounts went with its namespace.
func Cleanup(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "node.pid")); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && syscall.Kill(pid, 0) == nil {
			if cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid)); strings.Contains(string(cmd), initEnv+"=") {
				return fmt.Errorf("the node's init (pid %d) is still running", pid)
			}
		}
	}
	n := &Node{dir: dir, Root: filepath.Join(dir, "root")}
	n.bridge, n.cgroup = outsideNames(dir)
	return n.Stop()
}

// MissingImages are the imported images node's status.images does not list.
func MissingImages(node *corev1.Node) []string {
	var missing []string
	for _, want := range []string{ProbeImage, PauseImage} {
		found := false
		for _, img := range node.Status.Images {
			found = found || slices.Contains(img.Names, want)
		}
		if !found {
			missing = append(missing, want)
		}
	}
	return missing
}

// Path is the machine path of the node's path p.
func (n *Node) Path(p string) string { return filepath.Join(n.Root, p) }

// ContainerdSocket is the machine path of the node's containerd socket.
func (n *Node) ContainerdSocket() string { return n.Path("/run/containerd/containerd.sock") }

// InitPid is the machine pid of the node's init (PID 1 on the node); its
// /proc/PID/mountinfo is the node's mount table.
func (n *Node) InitPid() int { return n.init.Process.Pid }

// Ctr runs ctr against the node's containerd, in its k8s.io namespace.
func (n *Node) Ctr(ctx context.Context, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ctr", append([]string{"--address", n.ContainerdSocket(), "--namespace", "k8s.io"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd.CombinedOutput()
}

// waitFor polls cond until it holds, the node's init exits, or ctx ends.
func (n *Node) waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-n.initDone:
			return fmt.Errorf("waiting for %s: the node's init exited (%v); see %s and %s", what, n.initErr, n.initLog.Name(), n.Logs)
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v); see %s", what, ctx.Err(), last, n.Logs)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// startInit re-executes this program as the node's init, in a new mount
// and PID namespace.
func (n *Node) startInit(kubeletBin string, opts Options) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cfg := initConfig{
		Root: n.Root, Logs: n.Logs, Kubelet: kubeletBin, Tmpfs: opts.Tmpfs,
		UsrUpper: filepath.Join(n.dir, "usr-upper"), UsrWork: filepath.Join(n.dir, "usr-work"),
		Devices:        append([]string{"/dev/kmsg"}, opts.Devices...),
		ContainerdArgs: []string{"--config", "/etc/containerd/config.toml"},
		KubeletArgs: []string{
			"--config=/var/lib/kubelet/config.yaml",
			"--kubeconfig=/etc/kubernetes/kubelet.conf",
			"--root-dir=/var/lib/kubelet",
			"--hostname-override=" + Name,
			// No --node-ip: the kubelet refuses a loopback one, and listens
			// on 127.0.0.1 only, so the API server (which dials the node's
			// address) cannot reach it: pods/log and exec through the API
			// server fail; KubeletGet reaches the same endpoints directly.
			"--v=2",
		},
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	if n.initLog, err = os.Create(filepath.Join(n.Logs, "init.log")); err != nil {
		return err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), initEnv+"="+string(raw))
	cmd.Stdout, cmd.Stderr = n.initLog, n.initLog
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID,
		Setpgid:    true,
		// Should this process die without Stop, the node dies with it.
		Pdeathsig: syscall.SIGKILL,
	}
	// Pdeathsig follows the thread that started the child.
	runtime.LockOSThread()
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("starting the node's init: %w", err)
	}
	n.init, n.initDone = cmd, make(chan struct{})
	go func() { n.initErr = cmd.Wait(); close(n.initDone) }()
	return os.WriteFile(filepath.Join(n.dir, "node.pid"), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644)
}

// makeCgroups creates the node's cgroup parent in every cgroup v1
// hierarchy: the kubelet's cgroupRoot, under which runc puts every
// container, so Stop can remove what SIGKILL leaves behind.
func (n *Node) makeCgroups() error {
	for _, h := range cgroupHierarchies() {
		if err := os.MkdirAll(filepath.Join(h, n.cgroup), 0o755); err != nil {
			return fmt.Errorf("creating the node's cgroup: %w", err)
		}
	}
	return nil
}

// cgroupHierarchies are the machine's cgroup hierarchies: every v1
// controller's mount and, on a hybrid machine, the unified one beside them
// (runc creates each container's cgroup there too), or the one unified
// hierarchy of a cgroup v2 machine.
func cgroupHierarchies() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	var out []string
	entries, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range entries {
		h := filepath.Join("/sys/fs/cgroup", e.Name())
		if _, err := os.Stat(filepath.Join(h, "cgroup.procs")); err == nil {
			out = append(out, h)
		}
	}
	return out
}

// removeCgroups removes the node's cgroup parent and what runc left under
// it, deepest first.
func (n *Node) removeCgroups() error {
	if n.cgroup == "" {
		return nil
	}
	var errs []error
	for _, h := range cgroupHierarchies() {
		top := filepath.Join(h, n.cgroup)
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			// A cgroup whose last task just died can be busy for a moment.
			var err error
			for try := 0; try < 50; try++ {
				if err = syscall.Rmdir(dirs[i]); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}

// Stop kills the node (its init, and with it every process of its PID
// namespace), deletes its bridge and cgroups, stops the control plane and
// removes the node's root (and a temporary state directory). It does so
// once; later calls (a signal handler racing the normal end) return the
// first call's result.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() { n.stopErr = n.stop() })
	return n.stopErr
}

func (n *Node) stop() error {
	var errs []error
	if n.init != nil {
		_ = syscall.Kill(-n.init.Process.Pid, syscall.SIGKILL)
		select {
		case <-n.initDone:
		case <-time.After(30 * time.Second):
			errs = append(errs, fmt.Errorf("the node's init (pid %d) did not exit 30s after SIGKILL", n.init.Process.Pid))
		}
	}
	if n.initLog != nil {
		n.initLog.Close()
	}
	if n.bridge != "" {
		if out, err := exec.Command("ip", "link", "delete", n.bridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
			errs = append(errs, fmt.Errorf("deleting bridge %s: %v: %s", n.bridge, err, out))
		}
	}
	errs = append(errs, n.removeCgroups())
	if n.Cluster != nil {
		errs = append(errs, n.Cluster.Stop())
	}
	if n.Root != "" {
		for _, d := range []string{n.Root, filepath.Join(n.dir, "usr-upper"), filepath.Join(n.dir, "usr-work")} {
			if err := removeRoot(d); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if n.ownDir && n.dir != "" {
		if mounted := mountsUnder(n.dir); len(mounted) == 0 {
			errs = append(errs, os.RemoveAll(n.dir))
		}
	}
	return errors.Join(errs...)
}

// Leftovers lists what of this node is still on the machine after Stop:
// its bridge, its cgroups, its root.
func (n *Node) Leftovers() []string {
	var out []string
	if _, err := net.InterfaceByName(n.bridge); err == nil {
		out = append(out, "bridge "+n.bridge)
	}
	for _, h := range cgroupHierarchies() {
		if _, err := os.Stat(filepath.Join(h, n.cgroup)); err == nil {
			out = append(out, "cgroup "+filepath.Join(h, n.cgroup))
		}
	}
	if _, err := os.Stat(n.Root); err == nil {
		out = append(out, "root "+n.Root)
	}
	return out
}

// removeRoot removes the node's root, but never while anything is mounted
// under it in this mount namespace: the node's binds of the machine's /usr
// live only in its own namespace, which is gone once init has exited, and
// RemoveAll must never walk into a bind of a machine directory.
func removeRoot(root string) error {
	if mounted := mountsUnder(root); len(mounted) > 0 {
		return fmt.Errorf("not removing %s: still mounted here: %v", root, mounted)
	}
	return os.RemoveAll(root)
}

// mountsUnder lists this process's mount points at or under dir.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return []string{"cannot read /proc/self/mountinfo: " + err.Error()}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			out = append(out, fields[4])
		}
	}
	return out
}
