package node

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// layout writes the node's root: its own directories (what a node keeps in
// /etc, /var, /run, /opt...), the configuration of containerd, the CNI and
// the kubelet, and the kubelet's kubeconfig. /usr (an overlay on the
// machine's), /proc, /sys and the node's /dev are mounted by the init.
func (n *Node) layout(kubeconfig []byte, healthzPort int, subnet string) error {
	for _, d := range []string{
		"etc/containerd", "etc/cni/net.d", "etc/kubernetes/manifests", "etc/kubernetes/pki",
		"var/lib/kubelet", "var/lib/containerd", "var/lib/cni", "var/log/pods", "var/log/containers",
		"run", "opt/cni/bin", "home", "root", "srv", "mnt", "tmp",
	} {
		if err := os.MkdirAll(n.Path(d), 0o755); err != nil {
			return err
		}
	}
	// The node's /usr is an overlay on the machine's (see initConfig); a
	// node has /lib/modules even where this machine has none.
	for _, d := range []string{"usr-upper/lib/modules", "usr-work"} {
		if err := os.MkdirAll(filepath.Join(n.dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(n.Path("tmp"), 0o1777); err != nil {
		return err
	}
	if err := os.Chmod(n.Path("root"), 0o700); err != nil {
		return err
	}
	// As on current distributions: /var/run is /run.
	if err := os.Symlink("../run", n.Path("var/run")); err != nil {
		return err
	}
	resolv, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		resolv = []byte("nameserver 127.0.0.53\n")
	}
	// Every node has its time zone file: agents mount it (with type
	// FileOrCreate, or none, when the runtime would make a missing one a
	// directory for the next agent to trip on).
	localtime, err := os.ReadFile("/etc/localtime")
	if err != nil {
		localtime = nil
	}
	files := map[string]string{
		"etc/localtime":                         string(localtime),
		"etc/hostname":                          Name + "\n",
		"etc/hosts":                             "127.0.0.1 localhost " + Name + "\n::1 localhost\n",
		"etc/resolv.conf":                       string(resolv),
		"etc/passwd":                            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		"etc/group":                             "root:x:0:\nnogroup:x:65534:\n",
		"etc/nsswitch.conf":                     "passwd: files\ngroup: files\nhosts: files dns\n",
		"etc/machine-id":                        strings.Repeat("d6", 16) + "\n",
		"etc/os-release":                        "PRETTY_NAME=\"daemonguard test node\"\nID=daemonguard\n",
		"etc/containerd/config.toml":            fmt.Sprintf(containerdConfig, PauseImage),
		"etc/cni/net.d/10-daemonguard.conflist": fmt.Sprintf(cniConfig, n.bridge, subnet),
		"etc/kubernetes/kubelet.conf":           string(kubeconfig),
		"var/lib/kubelet/config.yaml":           fmt.Sprintf(kubeletConfig, n.kubeletPort, healthzPort, "/"+n.cgroup),
	}
	for p, body := range files {
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".conf") && strings.Contains(p, "kubernetes") {
			mode = 0o600
		}
		if err := os.WriteFile(n.Path(p), []byte(body), mode); err != nil {
			return err
		}
	}
	// The runtime executes its CNI plugins from the node's /opt/cni/bin, as
	// on most nodes: copies, so what a test plants there stays on the node.
	for _, p := range []string{"bridge", "host-local", "loopback"} {
		if err := copyFile(filepath.Join(cniBinDir, p), n.Path("opt/cni/bin/"+p), 0o755); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// containerdConfig is containerd 1.6's configuration (version 2) for the
// node; paths are the node's. restrict_oom_score_adj: these machines lack
// CAP_SYS_RESOURCE, and without it runc fails every sandbox ("can't get
// final child's PID from pipe: EOF").
const containerdConfig = `version = 2
root = "/var/lib/containerd"
state = "/run/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
`

// cniConfig is the pod network: a bridge of the node's own (deleted on
// Stop) with host-local addresses; no masquerading, no iptables.
const cniConfig = `{
  "cniVersion": "0.4.0",
  "name": "daemonguard-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": %q}]]}
    }
  ]
}
`

// kubeletConfig is the kubelet's configuration for this kind of machine:
// cgroup v1 (failCgroupV1: false; 1.37 refuses v1 otherwise), cgroupfs, the
// per-QoS cgroups under one cgroup parent of the node's own (cgroupRoot), so
// Stop finds every container's cgroup there even after SIGKILL; with
// cgroupsPerQOS: false the kubelet ignores cgroupRoot for pods and
// containerd puts them under /k8s.io/ID of every hierarchy. No allocatable
// enforcement, swap tolerated, ports on loopback. The API server reaches
// the kubelet (logs, exec) without client certificates: anonymous with
// AlwaysAllow, on 127.0.0.1 only.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
cgroupDriver: cgroupfs
cgroupRoot: %q
cgroupsPerQOS: true
enforceNodeAllocatable: []
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
staticPodPath: /etc/kubernetes/manifests
fileCheckFrequency: 2s
resolvConf: /etc/resolv.conf
hairpinMode: none
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "10Mi"
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
nodeStatusUpdateFrequency: 5s
syncFrequency: 10s
registerNode: true
`
