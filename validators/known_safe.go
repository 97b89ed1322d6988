package validators

// knownSafePaths are the host paths real agents need that nothing on the
// node executes, loads or trusts for the access listed: below them a mount
// with that access is known safe (see knowledge.go). A path rule's list
// still applies inside them (/var/log is safe to read, /var/log/pods is not
// safe to write). Each entry names the agents that need it and where that
// is shown; an admin adds their own in the policy (validation.allowedHostPaths).
var knownSafePaths = [...]SafePath{
	// What the node publishes about itself.
	{Path: "/etc/os-release", Access: Read, Agents: "node-exporter, Datadog, node-feature-discovery",
		Why: "the world-readable OS identification file (os-release(5))", Source: "https://github.com/DataDog/helm-charts/blob/main/charts/datadog/templates/_container-agent.yaml (os-release volume)"},
	{Path: "/usr/lib/os-release", Access: Read, Agents: "node-feature-discovery",
		Why: "where /etc/os-release points on systemd distributions (os-release(5))", Source: "https://github.com/kubernetes-sigs/node-feature-discovery/blob/master/deployment/base/worker-daemonset/worker-daemonset.yaml"},
	{Path: "/etc/machine-id", Access: Read, Agents: "fluent-bit and promtail journal readers, Datadog",
		Why:    "the world-readable host id journald names its directory after (machine-id(5)); no key derives from it",
		Source: "https://github.com/grafana/helm-charts/blob/main/charts/promtail/values.yaml (journal: /etc/machine-id)"},
	{Path: "/etc/hostname", Access: Read, Agents: "log shippers", Why: "world-readable host name", Source: "hostname(5)"},
	{Path: "/etc/localtime", Access: Read, Agents: "log shippers, Falco", Why: "world-readable time zone", Source: "localtime(5)"},
	{Path: "/usr/share/zoneinfo", Access: Read, Agents: "log shippers", Why: "world-readable time zone database", Source: "tzfile(5)"},
	{Path: "/etc/passwd", Access: Read, Agents: "Datadog process agent",
		Why: "world-readable user names (password hashes live in /etc/shadow)", Source: "https://github.com/DataDog/helm-charts/blob/main/charts/datadog/templates/_container-process-agent.yaml (passwd volume)"},
	{Path: "/etc/group", Access: Read, Agents: "Datadog, Falco", Why: "world-readable group names (gshadow holds the secrets)", Source: "group(5)"},
	// Kernel interfaces read to monitor the node. Reading them exposes no key;
	// /proc/<pid>/root of other processes is judged by hostpid-as-root.
	{Path: "/proc", Access: Read, Agents: "node-exporter, cAdvisor, Datadog, Falco",
		Why:    "process and kernel statistics; the kernel checks ptrace access before it shows another process's files or environment",
		Source: "https://github.com/prometheus-community/helm-charts/blob/main/charts/prometheus-node-exporter/templates/daemonset.yaml (proc volume)"},
	{Path: "/sys", Access: Read, Agents: "node-exporter, cAdvisor, Datadog, node-feature-discovery",
		Why: "device, cgroup and kernel statistics", Source: "https://github.com/prometheus-community/helm-charts/blob/main/charts/prometheus-node-exporter/templates/daemonset.yaml (sys volume)"},
	{Path: "/dev/kmsg", Access: Read, Agents: "node-problem-detector", Why: "the kernel log, which holds no key",
		Source: "https://github.com/kubernetes/node-problem-detector/blob/master/deployment/node-problem-detector.yaml (kmsg volume)"},
	{Path: "/lib/modules", Access: Read, Agents: "kube-proxy, Calico, Cilium, Falco",
		Why: "kernel modules, shipped world-readable by the distribution", Source: "kubeadm's kube-proxy DaemonSet: cmd/kubeadm/app/phases/addons/proxy/manifests.go (lib-modules volume)"},
	{Path: "/usr/lib/modules", Access: Read, Agents: "kube-proxy on merged-/usr distributions", Why: "the same modules where /lib is /usr/lib", Source: "file-hierarchy(7)"},
	{Path: "/usr", Access: Read, Agents: "Falco (kernel headers), node-feature-discovery",
		Why: "shareable, read-only programs and data by the filesystem hierarchy: no host secret lives there", Source: "file-hierarchy(7); FHS 3.0 section 4"},
	{Path: "/boot", Access: Read, Agents: "node-feature-discovery, Falco",
		Why: "the kernel, its config and initramfs, world-readable on every distribution daemonguard knows", Source: "https://github.com/kubernetes-sigs/node-feature-discovery/blob/master/deployment/base/worker-daemonset/worker-daemonset.yaml (host-boot volume)"},
	// Logs, which log shippers are installed to read.
	{Path: "/var/log", Access: Read, Agents: "fluent-bit, Fluentd, Vector, promtail, Filebeat, Datadog",
		Why: "node and container logs: shipping them is the agent's job", Source: "https://github.com/fluent/helm-charts/blob/main/charts/fluent-bit/values.yaml (varlog volume)"},
	{Path: "/var/lib/docker/containers", Access: Read, Agents: "fluent-bit, promtail, Datadog on Docker nodes",
		Why: "Docker's json-file container logs", Source: "https://github.com/grafana/helm-charts/blob/main/charts/promtail/values.yaml (docker volume)"},
	{Path: "/run/log/journal", Access: Read, Agents: "fluent-bit, promtail, Vector journal inputs",
		Why: "journald's volatile journal", Source: "systemd-journald.service(8)"},
	// Sockets whose API only reads.
	{Path: "/var/lib/kubelet/pod-resources", Access: Read, Agents: "NVIDIA dcgm-exporter, device monitoring",
		Why:    "the kubelet's PodResources API: List, Get and GetAllocatableResources only",
		Source: "https://github.com/kubernetes/kubelet/blob/master/pkg/apis/podresources/v1/api.proto"},
	{Path: "/run/systemd/journal", Access: Read, Agents: "agents that log to journald",
		Why: "journald's sockets: a client can only append log entries", Source: "systemd-journald.service(8)"},
	{Path: "/var/lib/kubelet/config.yaml", Access: Read, Agents: "node-feature-discovery, monitoring that reports kubelet settings",
		Why:    "the KubeletConfiguration kubeadm writes: settings and the paths of the kubelet's certificates, not the certificates",
		Source: "https://kubernetes.io/docs/setup/production-environment/tools/kubeadm/kubelet-integration/ (/var/lib/kubelet/config.yaml)"},
	{Path: `\\.\pipe\kubelet-pod-resources`, Access: Read, Agents: "device monitoring on Windows nodes",
		Why:    "the kubelet's PodResources API on Windows: List, Get and GetAllocatableResources only",
		Source: "https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/apis/podresources/constants.go (npipe://./pipe/kubelet-pod-resources)"},
	// Lock files.
	{Path: "/run/xtables.lock", Access: Read | Write, Agents: "kube-proxy, Calico, flannel, Cilium, node-local-dns",
		Why: "the lock iptables takes with -w; it holds nothing and nothing runs it", Source: "kubeadm's kube-proxy DaemonSet: cmd/kubeadm/app/phases/addons/proxy/manifests.go (xtables-lock volume)"},
	// Windows.
	{Path: "c:/var/log", Access: Read, Agents: "log shippers on Windows nodes", Why: "container logs on Windows nodes", Source: "https://github.com/kubernetes-sigs/sig-windows-tools (kubelet --root-dir and pod logs under C:\\var\\log)"},
}

// KnownSafePaths returns the built-in known-safe list (a copy), for docs.
func KnownSafePaths() []SafePath { return append([]SafePath(nil), knownSafePaths[:]...) }
