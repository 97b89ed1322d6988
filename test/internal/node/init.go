package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// initEnv names the environment variable that turns this program into the
// node's init: the process Start re-executes in a new mount and PID
// namespace. It holds the initConfig as JSON.
const initEnv = "DAEMONGUARD_NODE_INIT"

// initConfig is what the node's init needs; paths are the machine's unless
// they say otherwise.
type initConfig struct {
	// Root becomes the node's /.
	Root string
	// UsrUpper and UsrWork are the upper and work directories of the
	// node's /usr: an overlay on the machine's, so the node may write its
	// /usr (as root can on a real node) while the machine's stays as it is.
	UsrUpper, UsrWork string
	// Logs is where containerd's and the kubelet's output go (outside Root,
	// so nothing on the node can rewrite them).
	Logs string
	// Kubelet is the kubelet binary, bound read-only at kubeletPath.
	Kubelet string
	// KubeletArgs and ContainerdArgs are the daemons' arguments.
	KubeletArgs, ContainerdArgs []string
	// Devices are the machine's device nodes bound into the node's /dev
	// (a tmpfs: nothing else of the machine's /dev is there).
	Devices []string
	// Tmpfs are node paths a tmpfs is mounted on before the daemons start
	// (a writable submount for the read-only-is-not-recursive test).
	Tmpfs []string
}

// kubeletPath is where the node sees the kubelet binary.
const kubeletPath = "/.daemonguard/bin/kubelet"

// RunInitIfRequested must be the first thing main (or TestMain) does in a
// program that starts a node: when this process is the node's init it
// never returns.
func RunInitIfRequested() {
	raw, ok := os.LookupEnv(initEnv)
	if !ok {
		return
	}
	var cfg initConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "node init: %v\n", err)
		os.Exit(2)
	}
	if err := runInit(&cfg); err != nil {
		fmt.Fprintf(os.Stderr, "node init: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// runInit is PID 1 of the node's PID namespace, in the node's own mount
// namespace. It builds the node's root from the scratch directory, pivots
// into it, starts containerd and the kubelet, and reaps every orphan (the
// runtime's shims are reparented here). When it exits, the kernel kills
// every process of the namespace, containers included, and the mounts go
// with the namespace: nothing the node mounted is ever visible to the
// machine.
func runInit(cfg *initConfig) error {
	if os.Getpid() != 1 {
		return errors.New("not PID 1 of a new PID namespace")
	}
	if err := buildRoot(cfg); err != nil {
		return fmt.Errorf("building the node's root: %w", err)
	}
	containerdLog, err := os.OpenFile(filepath.Join(cfg.Logs, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	kubeletLog, err := os.OpenFile(filepath.Join(cfg.Logs, "kubelet.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if err := pivot(cfg.Root); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)

	env := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
	containerd, err := os.StartProcess("/usr/bin/containerd", append([]string{"containerd"}, cfg.ContainerdArgs...), &os.ProcAttr{
		Dir: "/", Env: env, Files: []*os.File{nil, containerdLog, containerdLog},
	})
	if err != nil {
		return fmt.Errorf("starting containerd: %w", err)
	}
	// The kubelet starts once containerd answers on its socket.
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat("/run/containerd/containerd.sock"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("containerd did not create its socket within a minute; see containerd.log")
		}
		time.Sleep(100 * time.Millisecond)
	}
	kubelet, err := os.StartProcess(kubeletPath, append([]string{"kubelet"}, cfg.KubeletArgs...), &os.ProcAttr{
		Dir: "/", Env: env, Files: []*os.File{nil, kubeletLog, kubeletLog},
	})
	if err != nil {
		return fmt.Errorf("starting the kubelet: %w", err)
	}
	fmt.Printf("node init: containerd pid %d, kubelet pid %d\n", containerd.Pid, kubelet.Pid)

	// One reaper for every child: os.Process.Wait would race it.
	exits := make(chan string, 16)
	go func() {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, 0, nil)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if err != nil {
				exits <- fmt.Sprintf("wait: %v", err)
				return
			}
			switch pid {
			case containerd.Pid:
				exits <- fmt.Sprintf("containerd exited (%v); see containerd.log", ws)
			case kubelet.Pid:
				exits <- fmt.Sprintf("the kubelet exited (%v); see kubelet.log", ws)
			}
		}
	}()
	select {
	case s := <-sigs:
		fmt.Printf("node init: %v: stopping the node\n", s)
		return nil
	case msg := <-exits:
		return errors.New(msg)
	}
}

// buildRoot turns cfg.Root into a node: the machine's /usr under an overlay
// of the node's own (and its lib and bin links), a fresh /proc, the
// machine's /sys, a /dev of its own, and the scratch directories for the
// rest.
func buildRoot(cfg *initConfig) error {
	// First of all: nothing mounted from here on propagates to the
	// machine's mount namespace.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making / private: %w", err)
	}
	root := cfg.Root
	// pivot_root needs the new root to be a mount point.
	if err := syscall.Mount(root, root, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return err
	}
	for _, d := range []string{"usr", "bin", "sbin", "lib", "lib64"} {
		host := "/" + d
		st, err := os.Lstat(host)
		if err != nil {
			continue
		}
		target := filepath.Join(root, d)
		if st.Mode()&os.ModeSymlink != 0 {
			link, err := os.Readlink(host)
			if err != nil {
				return err
			}
			if err := os.Symlink(link, target); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
			continue
		}
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
		if d != "usr" {
			if err := bindReadOnly(host, target, true); err != nil {
				return err
			}
			continue
		}
		if err := syscall.Mount("overlay", target, "overlay", 0, fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", host, cfg.UsrUpper, cfg.UsrWork)); err != nil {
			return fmt.Errorf("overlay on /usr: %w", err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, filepath.Dir(kubeletPath)), 0o755); err != nil {
		return err
	}
	if err := bindReadOnly(cfg.Kubelet, filepath.Join(root, kubeletPath), false); err != nil {
		return err
	}
	proc := filepath.Join(root, "proc")
	if err := os.MkdirAll(proc, 0o555); err != nil {
		return err
	}
	if err := syscall.Mount("proc", proc, "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	sys := filepath.Join(root, "sys")
	if err := os.MkdirAll(sys, 0o555); err != nil {
		return err
	}
	// The kubelet and runc need the cgroup hierarchies; the node's cgroups
	// live under one parent of their own (see Start), removed on Stop.
	if err := syscall.Mount("/sys", sys, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
		return fmt.Errorf("binding /sys: %w", err)
	}
	if err := buildDev(root, cfg.Devices); err != nil {
		return fmt.Errorf("building /dev: %w", err)
	}
	for _, p := range cfg.Tmpfs {
		t := filepath.Join(root, p)
		if err := os.MkdirAll(t, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount("tmpfs", t, "tmpfs", 0, "size=4m,mode=0755"); err != nil {
			return fmt.Errorf("tmpfs on %s: %w", p, err)
		}
	}
	return nil
}

// bindReadOnly binds src onto target (created as a directory or an empty
// file) and remounts the bind read-only.
func bindReadOnly(src, target string, dir bool) error {
	if dir {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
	} else if err := os.WriteFile(target, nil, 0o755); err != nil {
		return err
	}
	flags := uintptr(syscall.MS_BIND)
	if dir {
		flags |= syscall.MS_REC
	}
	if err := syscall.Mount(src, target, "", flags, ""); err != nil {
		return fmt.Errorf("binding %s: %w", src, err)
	}
	if err := syscall.Mount("", target, "", flags|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("making %s read-only: %w", target, err)
	}
	return nil
}

// buildDev gives the node a /dev of its own: a tmpfs with the usual
// character devices and the listed ones bound from the machine, a devpts of
// its own and /dev/shm. The machine's disks are not there: a privileged
// container on the node gets the node's /dev, never the machine's disks.
func buildDev(root string, extra []string) error {
	dev := filepath.Join(root, "dev")
	if err := os.MkdirAll(dev, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount("tmpfs", dev, "tmpfs", syscall.MS_NOSUID, "mode=0755,size=16m"); err != nil {
		return err
	}
	for _, d := range append([]string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}, extra...) {
		if _, err := os.Stat(d); err != nil {
			continue
		}
		t := filepath.Join(dev, filepath.Base(d))
		if err := os.WriteFile(t, nil, 0o666); err != nil {
			return err
		}
		if err := syscall.Mount(d, t, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s: %w", d, err)
		}
	}
	pts := filepath.Join(dev, "pts")
	if err := os.MkdirAll(pts, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount("devpts", pts, "devpts", syscall.MS_NOSUID|syscall.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"); err != nil {
		return fmt.Errorf("devpts: %w", err)
	}
	shm := filepath.Join(dev, "shm")
	if err := os.MkdirAll(shm, 0o1777); err != nil {
		return err
	}
	if err := syscall.Mount("shm", shm, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "mode=1777,size=64m"); err != nil {
		return err
	}
	for link, target := range map[string]string{"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := os.Symlink(target, filepath.Join(dev, link)); err != nil {
			return err
		}
	}
	return nil
}

// pivot makes root the namespace's / and drops the machine's root from it,
// then makes every mount of the node shared within the node, as on a real
// node (mount propagation for the kubelet and Bidirectional mounts; the
// machine is not a peer: / was made private first).
func pivot(root string) error {
	old := filepath.Join(root, ".oldroot")
	if err := os.MkdirAll(old, 0o700); err != nil {
		return err
	}
	if err := syscall.PivotRoot(root, old); err != nil {
		return err
	}
	if err := os.Chdir("/"); err != nil {
		return err
	}
	if err := syscall.Unmount("/.oldroot", syscall.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the old root: %w", err)
	}
	if err := os.Remove("/.oldroot"); err != nil {
		return err
	}
	return syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_SHARED, "")
}
