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
	{Path: "/run/utmp", Access: Read, Agents: "Splunk OpenTelemetry Collector, node monitors (logged-in users)",
		Why: "the login records, world-readable by design (utmp(5))", Source: "https://github.com/signalfx/splunk-otel-collector-chart/blob/main/helm-charts/splunk-otel-collector/templates/daemonset.yaml (host-var-run-utmp)"},
	{Path: "/dev", Access: Read, Agents: "Splunk OpenTelemetry Collector, node-exporter textfile users, Falco",
		Why:    "device nodes: a container that is not privileged cannot open a host device node (the runtime's device cgroup allows only its default devices), so reading /dev lists names",
		Source: "opencontainers/runc libcontainer/specconv/spec_linux.go (AllowedDevices); test/node TestNodeIdentity/device"},
	{Path: "/etc/lsb-release", Access: Read, Agents: "Datadog system-probe, node-feature-discovery", Why: "world-readable distribution identification", Source: "lsb_release(1)"},
	{Path: "/etc/redhat-release", Access: Read, Agents: "Datadog system-probe", Why: "world-readable distribution identification", Source: "https://github.com/DataDog/helm-charts/blob/main/charts/datadog/templates/_system-probe-init.yaml"},
	{Path: "/etc/fedora-release", Access: Read, Agents: "Datadog system-probe", Why: "world-readable distribution identification", Source: "https://github.com/DataDog/helm-charts/blob/main/charts/datadog/templates/_system-probe-init.yaml"},
	{Path: "/etc/system-release", Access: Read, Agents: "Datadog system-probe", Why: "world-readable distribution identification", Source: "https://github.com/DataDog/helm-charts/blob/main/charts/datadog/templates/_system-probe-init.yaml"},
	{Path: "/etc/debian_version", Access: Read, Agents: "node-feature-discovery", Why: "world-readable distribution identification", Source: "debian-policy 12.4"},
	{Path: "/etc/modprobe.d", Access: Read, Agents: "Sysdig, Falco driver loaders", Why: "module options and blacklists: configuration, no key", Source: "modprobe.d(5)"},
	{Path: "/bin", Access: Read, Agents: "inspektor-gadget, node tooling", Why: "the node's programs, world-readable", Source: "file-hierarchy(7)"},
	{Path: "/sbin", Access: Read, Agents: "node tooling", Why: "the node's system programs, world-readable", Source: "file-hierarchy(7)"},
	{Path: "/lib", Access: Read, Agents: "eBPF agents, driver installers", Why: "the node's libraries and modules, world-readable", Source: "file-hierarchy(7)"},
	{Path: "/lib64", Access: Read, Agents: "node tooling", Why: "the node's libraries, world-readable", Source: "file-hierarchy(7)"},
	{Path: "/home/kubernetes/bin", Access: Read, Agents: "GKE netd", Why: "COS's Kubernetes binaries (the kubelet, CNI plugins), world-readable", Source: "kubernetes/kubernetes cluster/gce/gci/configure.sh (KUBE_HOME/bin)"},
	{Path: "/etc/ssl/certs", Access: Read, Agents: "agents that trust the node's CA bundle", Why: "public CA certificates", Source: "update-ca-certificates(8)"},
	{Path: "/etc/pki/ca-trust/extracted", Access: Read, Agents: "agents on RHEL-family nodes", Why: "the public CA bundle", Source: "update-ca-trust(8)"},
	{Path: "/etc/kubernetes/manifests", Access: Read, Agents: "monitoring of static control-plane pods",
		Why: "kubeadm's static pod manifests: flags and file paths, no key", Source: "https://kubernetes.io/docs/reference/setup-tools/kubeadm/implementation-details/ (constants: manifests directory)"},
	{Path: "/etc/kubernetes/node-feature-discovery", Access: Read, Agents: "node-feature-discovery worker",
		Why: "static feature files and hook sources turned into node labels; no key", Source: "https://github.com/kubernetes-sigs/node-feature-discovery/blob/master/deployment/base/worker-daemonset/worker-daemonset.yaml (features.d)"},
	{Path: "/var/lib/cloud/data/instance-id", Access: Read, Agents: "Datadog on EKS (host name resolution)", Why: "the cloud instance id, which the instance metadata service hands every process on the node",
		Source: "https://github.com/DataDog/helm-charts/blob/main/charts/datadog/values.yaml (providers.eks)"},
	{Path: "/etc/kubernetes/pki/ca.crt", Access: Read, Agents: "agents that verify the API server",
		Why: "the cluster CA certificate, public (every pod gets it in its service-account volume)", Source: "https://kubernetes.io/docs/setup/best-practices/certificates/"},
	{Path: "/var/lib/kubelet/cpu_manager_state", Access: Read, Agents: "topology exporters", Why: "which CPUs are assigned to which container: no key", Source: "kubernetes/kubernetes pkg/kubelet/cm/cpumanager/state"},
	{Path: "/var/lib/kubelet/memory_manager_state", Access: Read, Agents: "topology exporters", Why: "NUMA memory assignments: no key", Source: "kubernetes/kubernetes pkg/kubelet/cm/memorymanager/state"},
	// Sockets whose API only reads.
	{Path: "/var/lib/kubelet/pod-resources", Access: Read, Agents: "NVIDIA dcgm-exporter, device monitoring",
		Why:    "the kubelet's PodResources API: List, Get and GetAllocatableResources only",
		Source: "https://github.com/kubernetes/kubelet/blob/master/pkg/apis/podresources/v1/api.proto"},
	// journald's logging sockets, one by one: the same directory holds its
	// root-only control socket (a host control socket).
	{Path: "/run/systemd/journal/socket", Access: Read, Agents: "agents that log to journald",
		Why: "journald's native logging socket: a client can only append log entries", Source: "systemd-journald.service(8)"},
	{Path: "/run/systemd/journal/stdout", Access: Read, Agents: "agents that log to journald",
		Why: "journald's stream logging socket: a client can only append log entries", Source: "systemd-journald.service(8)"},
	{Path: "/run/systemd/journal/dev-log", Access: Read, Agents: "syslog clients (the target of /dev/log)",
		Why: "journald's syslog socket: a client can only append log entries", Source: "systemd-journald.service(8)"},
	{Path: "/var/lib/kubelet/config.yaml", Access: Read, Agents: "node-feature-discovery, monitoring that reports kubelet settings",
		Why:    "the KubeletConfiguration kubeadm writes: settings and the paths of the kubelet's certificates, not the certificates",
		Source: "https://kubernetes.io/docs/setup/production-environment/tools/kubeadm/kubelet-integration/ (/var/lib/kubelet/config.yaml)"},
	{Path: `\\.\pipe\kubelet-pod-resources`, Access: Read, Agents: "device monitoring on Windows nodes",
		Why:    "the kubelet's PodResources API on Windows: List, Get and GetAllocatableResources only",
		Source: "https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/apis/podresources/constants.go (npipe://./pipe/kubelet-pod-resources)"},
	// Agents' own state: checkpoints, positions, buffers and their own
	// sockets, in directories they create and nothing else on the node
	// reads. Another agent's use of them is between the two agents.
	{Path: "/run/promtail", Access: Read | Write, Agents: "promtail", Why: "its positions file", Source: "https://github.com/grafana/helm-charts/blob/main/charts/promtail/values.yaml (run volume)"},
	{Path: "/var/lib/vector", Access: Read | Write, Agents: "Vector (agent role)", Why: "its data directory: checkpoints and disk buffers", Source: "https://github.com/vectordotdev/helm-charts/blob/develop/charts/vector/templates/_pod.tpl (data-dir)"},
	{Path: "/var/lib/filebeat-data", Access: Read | Write, Agents: "Filebeat", Why: "its registry of read offsets", Source: "https://github.com/elastic/beats/blob/main/deploy/kubernetes/filebeat-kubernetes.yaml (data volume)"},
	{Path: "/var/lib/metricbeat-data", Access: Read | Write, Agents: "Metricbeat", Why: "its data directory", Source: "https://github.com/elastic/beats/blob/main/deploy/kubernetes/metricbeat-kubernetes.yaml (data volume)"},
	{Path: "/var/lib/elastic-agent-managed", Access: Read | Write, Agents: "Elastic Agent (Fleet-managed)", Why: "its state (its own Fleet API key among it)", Source: "https://github.com/elastic/elastic-agent/blob/main/deploy/kubernetes/elastic-agent-managed-kubernetes.yaml (elastic-agent-state)"},
	{Path: "/var/lib/elastic-agent-standalone", Access: Read | Write, Agents: "Elastic Agent (standalone)", Why: "its state", Source: "https://github.com/elastic/elastic-agent/blob/main/deploy/kubernetes/elastic-agent-standalone-kubernetes.yaml (elastic-agent-state)"},
	{Path: "/var/lib/otelcol", Access: Read | Write, Agents: "OpenTelemetry Collector (agent, filelog checkpoints)", Why: "its file_storage checkpoints", Source: "https://github.com/open-telemetry/opentelemetry-helm-charts/blob/main/charts/opentelemetry-collector/templates/_pod.tpl (varlibotelcol)"},
	{Path: "/var/lib/otc", Access: Read | Write, Agents: "Sumo Logic collector", Why: "its file_storage checkpoints", Source: "https://github.com/SumoLogic/sumologic-kubernetes-collection (logs collector file-storage volume)"},
	{Path: "/var/addon/splunk/otel_pos", Access: Read | Write, Agents: "Splunk OpenTelemetry Collector", Why: "its checkpoint files", Source: "https://github.com/signalfx/splunk-otel-collector-chart (checkpoint volume)"},
	{Path: "/var/lib/datadog-agent/logs", Access: Read | Write, Agents: "Datadog agent", Why: "its log positions", Source: "https://github.com/DataDog/helm-charts/blob/main/charts/datadog/templates/_container-agent.yaml (pointerdir)"},
	{Path: "/opt/datadog-agent/run", Access: Read | Write, Agents: "Datadog agent (older charts)", Why: "its log positions", Source: "https://github.com/DataDog/helm-charts/blob/main/charts/datadog/values.yaml (datadog.logs.pointerdir history)"},
	{Path: "/run/datadog", Access: Read | Write, Agents: "Datadog agent", Why: "its DogStatsD and APM sockets, which applications send metrics to", Source: "https://github.com/DataDog/helm-charts/blob/main/charts/datadog/templates/_container-agent.yaml (dsdsocket)"},
	{Path: "/var/lib/netdata-k8s-child", Access: Read | Write, Agents: "Netdata (child)", Why: "its database and state", Source: "https://github.com/netdata/helmchart/blob/master/charts/netdata/templates/child/daemonset.yaml"},
	{Path: "/var/lib/fluent-bit", Access: Read | Write, Agents: "fluent-bit", Why: "its tail database and filesystem buffers, where its docs put them", Source: "https://docs.fluentbit.io/manual/administration/buffering-and-storage"},
	{Path: "/var/fluent-bit/state", Access: Read | Write, Agents: "aws-for-fluent-bit", Why: "its tail database", Source: "https://github.com/aws/eks-charts/blob/master/stable/aws-for-fluent-bit/templates/daemonset.yaml"},
	{Path: "/run/ztunnel", Access: Read | Write, Agents: "Istio ztunnel", Why: "its socket, where Istio's CNI agent hands it ambient pods' network namespaces: the mesh's traffic, not the node's root or keys", Source: "https://github.com/istio/istio/blob/master/manifests/charts/ztunnel/templates/daemonset.yaml (cni-ztunnel-sock-dir)"},
	{Path: "/run/aws-node", Access: Read | Write, Agents: "Amazon VPC CNI (aws-node)", Why: "ipamd's checkpoint", Source: "https://github.com/aws/amazon-vpc-cni-k8s/blob/master/charts/aws-vpc-cni/templates/daemonset.yaml (run-dir)"},
	{Path: "/etc/kubernetes/node-feature-discovery/features.d", Access: Read | Write, Agents: "NVIDIA gpu-feature-discovery, other feature sources",
		Why:    "feature files node-feature-discovery turns into node labels: a writer can label the node, not run anything on it",
		Source: "https://kubernetes-sigs.github.io/node-feature-discovery/stable/usage/customization-guide.html#feature-files"},
	// Agents' own logs below /var/log, which no log rotation the node ships
	// knows of.
	{Path: "/var/log/calico", Access: Read | Write, Agents: "Calico", Why: "its CNI plugin and felix logs", Source: "https://github.com/projectcalico/calico/blob/master/manifests/calico.yaml (cni-log-dir)"},
	{Path: "/var/log/aws-routed-eni", Access: Read | Write, Agents: "Amazon VPC CNI (aws-node)", Why: "ipamd and plugin logs", Source: "https://github.com/aws/amazon-vpc-cni-k8s/blob/master/charts/aws-vpc-cni/templates/daemonset.yaml (log-dir)"},
	{Path: "/var/log/antrea", Access: Read | Write, Agents: "Antrea", Why: "its logs", Source: "https://github.com/antrea-io/antrea/blob/main/build/charts/antrea/templates/agent/daemonset.yaml (host-var-log-antrea)"},
	{Path: "/var/log/kube-ovn", Access: Read | Write, Agents: "Kube-OVN", Why: "its logs", Source: "https://github.com/kubeovn/kube-ovn/blob/master/charts/kube-ovn/templates/ovncni-ds.yaml"},
	{Path: "/var/log/openvswitch", Access: Read | Write, Agents: "Kube-OVN, Antrea", Why: "OVS logs written by the agents' own OVS", Source: "https://github.com/kubeovn/kube-ovn/blob/master/charts/kube-ovn/templates/ovncni-ds.yaml"},
	{Path: "/var/log/ovn", Access: Read | Write, Agents: "Kube-OVN", Why: "OVN logs written by its own OVN", Source: "https://github.com/kubeovn/kube-ovn/blob/master/charts/kube-ovn/templates/ovncni-ds.yaml"},
	// Lock files.
	{Path: "/run/xtables.lock", Access: Read | Write, Agents: "kube-proxy, Calico, flannel, Cilium, node-local-dns",
		Why: "the lock iptables takes with -w; it holds nothing and nothing runs it", Source: "kubeadm's kube-proxy DaemonSet: cmd/kubeadm/app/phases/addons/proxy/manifests.go (xtables-lock volume)"},
	// Windows.
	{Path: "c:/var/log", Access: Read, Agents: "log shippers on Windows nodes", Why: "container logs on Windows nodes", Source: "https://github.com/kubernetes-sigs/sig-windows-tools (kubelet --root-dir and pod logs under C:\\var\\log)"},
}

// KnownSafePaths returns the built-in known-safe list (a copy), for docs.
func KnownSafePaths() []SafePath { return append([]SafePath(nil), knownSafePaths[:]...) }
