package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// defaultSensitiveHostPaths are host paths no DaemonSet may mount writable:
// the node runs, loads, trusts or configures itself from what is there.
// Each entry says why and where that is shown.
var defaultSensitiveHostPaths = [...]Fact{
	{Path: "/", Why: "the node's whole root filesystem", Source: "file-hierarchy(7); FHS 3.0"},
	{Path: "/etc", Why: "the node's configuration: systemd units, cron, sudoers, ld.so.preload, the runtimes' and the kubelet's config", Source: "file-hierarchy(7); FHS 3.0"},
	{Path: "/root", Why: "root's home: shell profiles and ssh authorized_keys run or trusted as root", Source: "file-hierarchy(7); FHS 3.0"},
	{Path: "/boot", Why: "the kernel and initramfs the node boots", Source: "file-hierarchy(7); FHS 3.0"},
	{Path: "/usr", Why: "the node's programs and libraries", Source: "file-hierarchy(7); FHS 3.0"},
	{Path: "/bin", Why: "programs (or a link into /usr)", Source: "file-hierarchy(7); FHS 3.0"},
	{Path: "/sbin", Why: "system programs", Source: "file-hierarchy(7); FHS 3.0"},
	{Path: "/lib", Why: "libraries and kernel modules", Source: "file-hierarchy(7); FHS 3.0"},
	{Path: "/lib64", Why: "libraries", Source: "file-hierarchy(7); FHS 3.0"},
	{Path: "/proc", Why: "the kernel's process and sysctl interface: core_pattern, modprobe and sysrq run or act as root", Source: "proc(5)"},
	{Path: "/sys", Why: "the kernel's device, cgroup and firmware interface: uevent_helper, cgroup release_agent, efivars", Source: "sysfs(5)"},
	{Path: "/dev", Why: "device nodes: disks, memory, consoles", Source: "https://www.kernel.org/doc/html/latest/admin-guide/devices.html"},
	{Path: "/var/lib/kubelet", Why: "the kubelet's state: pod volumes, plugin sockets, seccomp profiles, checkpoints", Source: "kubernetes/kubernetes:pkg/kubelet/config/defaults.go"},
	{Path: "/var/lib/etcd", Why: "etcd's data: every Secret of the cluster", Source: "https://etcd.io/docs/latest/op-guide/configuration/ (--data-dir)"},
	{Path: "/var/lib/docker", Why: "Docker's images, layers and containers' filesystems, run as root", Source: "moby/moby daemon/config (data-root)"},
	{Path: "/var/lib/containerd", Why: "containerd's images, snapshots and metadata, run as root", Source: "containerd/containerd docs/ops.md (root)"},
	{Path: "/opt/cni/bin", Why: "CNI plugins exec'd as root for every pod sandbox", Source: "containerd/containerd@v2.2.7:docs/cri/config.md#312; cri-o/cri-o@v1.34.11:pkg/config/config_unix.go#8"},
	{Path: "/var/lib/containers", Why: "CRI-O's and Podman's images and layers", Source: "containers/storage storage.conf (graphroot)"},
	{Path: "/var/lib/rancher", Why: "k3s and RKE2 state, binaries and tokens", Source: "https://docs.k3s.io/installation/configuration (data-dir)"},
	{Path: "/var/spool/cron", Why: "crontabs, run as their owners by cron", Source: "crontab(5)"},
	{Path: "/home", Why: "users' homes (ssh authorized_keys); GKE's COS keeps the kubelet, CNI binaries and kube-env in /home/kubernetes", Source: "kubernetes/kubernetes:cluster/gce/gci/configure.sh"},
	{Path: "/var/lib/cloud", Why: "cloud-init's per-boot and per-instance scripts, run as root", Source: "https://cloudinit.readthedocs.io/en/latest/reference/base_config_reference.html"},
	{Path: "/run/udev", Why: "udev rules read at runtime (RUN+= runs as root)", Source: "udev(7)"},
	{Path: "/run/modprobe.d", Why: "modprobe configuration (install directives run as root)", Source: "modprobe.d(5)"},
	{Path: "/run/cdi", Why: "generated specs (by device plugins / DRA drivers) override static ones", Source: "cncf-tags/container-device-interface@v1.1.0:pkg/cdi/spec-dirs.go#30; containerd/containerd@v2.2.7:internal/cri/config/config_unix.go#108"},
	{Path: "/run/systemd/system", Why: "systemd unit files loaded by PID 1", Source: "systemd.unit(5)"},
	{Path: "/run/systemd/transient", Why: "transient units PID 1 starts", Source: "systemd.unit(5)"},
	{Path: "/opt/nri", Why: "NRI plugins containerd and CRI-O start as root", Source: "containerd/nri README (plugin_path /opt/nri/plugins)"},
	{Path: "/opt/bin", Why: "Flatcar's kubelet and tools", Source: "https://www.flatcar.org/docs/latest/container-runtimes/getting-started-with-kubernetes/"},
	{Path: "/var/lib/k0s", Why: "k0s's binaries, containerd and kubelet state", Source: "https://docs.k0sproject.io/stable/configuration/ (dataDir)"},
	{Path: "/snap", Why: "snap packages (MicroK8s), run as root", Source: "https://snapcraft.io/docs/system-snap-directory"},
	{Path: "/var/snap", Why: "snaps' writable state (MicroK8s's containerd, certificates)", Source: "https://microk8s.io/docs/configuring-services"},
	{Path: "/system", Why: "Talos's system state and control sockets", Source: "https://www.talos.dev/latest/learn-more/architecture/"},
	{Path: "/local", Why: "Bottlerocket's persistent storage", Source: "https://bottlerocket.dev/en/os/latest/concepts/"},
	{Path: "/sysroot", Why: "ostree systems' real root (Fedora CoreOS, RHCOS)", Source: "ostree(1)"},
	{Path: "/ostree", Why: "ostree deployments", Source: "ostree(1)"},
	{Path: "/var/usrlocal", Why: "/usr/local on ostree systems", Source: "https://docs.fedoraproject.org/en-US/fedora-coreos/"},
	{Path: "/var/opt/cni/bin", Why: "the CNI binaries on ostree systems, where /opt is /var/opt", Source: "https://docs.fedoraproject.org/en-US/fedora-coreos/"},
	{Path: "/var/home", Why: "/home on ostree systems", Source: "https://docs.fedoraproject.org/en-US/fedora-coreos/"},
	{Path: "/run/systemd/system.control", Why: "units PID 1 loads (systemctl set-property --runtime)", Source: "systemd.unit(5)"},
	{Path: "/run/systemd/system.attached", Why: "portable service units PID 1 loads", Source: "systemd.unit(5)"},
	{Path: "/var/lib/cni/bin", Why: "CNI binaries CRI-O (OpenShift) and Multus run as root", Source: "cri-o/cri-o docs (plugin_dirs)"},
	{Path: "/opt/containerd", Why: "containerd prepends /opt/containerd/bin to its PATH and /opt/containerd/lib to LD_LIBRARY_PATH, so shims/runtimes/libraries found there run as root; /opt/containerd/image-verifier/bin holds verifier binaries it executes", Source: "https://github.com/containerd/containerd/blob/301026e58c619e63d09c0ec411012e54c0124b03/plugins/services/opt/service.go; plugins/imageverifier/path_unix.go#L21"},
	{Path: "/opt/kata", Why: "containerd runs the shim with runtime_path /opt/kata/bin/...; the kata-deploy.toml drop-in is merged into containerd's config", Source: "kata-containers/kata-containers@4.1.0:tools/packaging/kata-deploy/binary/src/runtime/containerd.rs#922-923,1201; src/utils/system.rs#187"},
	{Path: "/opt/azure", Why: "kubelet.service ExecStartPre runs /opt/azure/containers/kubelet.sh and ensure_imds_restriction.sh as root; provision*.sh run by the custom script extension", Source: "https://github.com/Azure/AgentBaker/blob/06836ee2301e362039418c3a7ed0fe6004a641fd/parts/linux/cloud-init/artifacts/kubelet.service#L13-L23"},
	{Path: "/opt/azure-network", Why: "configure-azure-network.sh run as root", Source: "https://github.com/Azure/AgentBaker/blob/06836ee2301e362039418c3a7ed0fe6004a641fd/parts/linux/cloud-init/artifacts/cse_config.sh"},
	{Path: "/opt/aws", Why: "sshd AuthorizedKeysCommand /opt/aws/bin/eic_run_authorized_keys: its output decides which SSH keys may log in as any user", Source: "https://github.com/aws/aws-ec2-instance-connect-config/blob/551c73e8ec1f5ade4c8b1f52cf616e75b47879b4/rpmsrc/SPECS/generic.spec#L54-L68"},
	{Path: "/opt/kops", Why: "INSTALL_DIR: bin/nodeup is run as root by kops-configuration.service and conf/kube_env.yaml tells it what to install; Flatcar puts kubectl here too", Source: "https://github.com/kubernetes/kops/blob/268927e26409f861634e18f3632c9dd483c350cf/pkg/model/resources/nodeup.go#L67-L216"},
	{Path: "/opt/rke2", Why: "INSTALL_RKE2_TAR_PREFIX fallback: bin/rke2 and lib/systemd/system units live here when /usr/local is read-only or a mount point", Source: "https://github.com/rancher/rke2/blob/6ce1a8019e9d0b81eb7a715edbc2b8ac12d26da0/install.sh#L40-L151"},
	{Path: "/var/lib/toolbox", Why: "kOps's bootstrap on COS", Source: "kubernetes/kops nodeup (toolbox/kops)"},
	{Path: "/var/lib/dpkg", Why: "info/*.prerm|postrm|postinst maintainer scripts of installed packages are executed as root at the next upgrade/removal (unattended-upgrades runs daily); status is trusted", Source: "dpkg(1) --admindir default /var/lib/dpkg (this machine: /usr/share/man/man1/dpkg.1.gz); 266 maintainer scripts in /var/lib/dpkg/info on this Debian host"},
	{Path: "/var/lib/rpm", Why: "rpmdb holds the %preun/%postun scriptlets of installed packages, executed as root on upgrade/erase", Source: "https://rpm-software-management.github.io/rpm/manual/ (unverified)"},
	{Path: "/var/cache/apt", Why: "archives/*.deb reused by apt when size/hash match the (signed) index", Source: "apt(8) (unverified)"},
	{Path: "/var/lib/apt", Why: "apt's package lists and state, trusted by apt and unattended-upgrades", Source: "apt(8) (unverified)"},
	{Path: "/var/lib/snapd", Why: "snaps/*.snap mounted and run as root, state.json (incl. store auth macaroons), seed", Source: "Debian bookworm package (apt-get download; extracted in /work/research/gen/pkgs/x/snapd ships /var/lib/snapd) (unverified)"},
	{Path: "/var/spool/at", Why: "queued at jobs run as their owner (root)", Source: "at(1) (unverified)"},
	{Path: "/var/spool/anacron", Why: "timestamps deciding when /etc/cron.{daily,weekly,monthly} run; not code itself", Source: "anacron(8) (unverified)"},
	{Path: "/var/lib/polkit-1", Why: "localauthority/*.d/*.pkla grant polkit actions (e.g. systemd manage-units) to any identity", Source: "third-party usage seen via index (e.g. ids 31322097738, 1565747523) (unverified)"},
	{Path: "/var/lib/extrausers", Why: "passwd/shadow/group consulted by NSS", Source: "libnss-extrausers README (unverified)"},
	{Path: "/var/lib/systemd", Why: "systemd's state: lingering users, credential.secret, timers", Source: "systemd-creds(1); loginctl(1)"},
	{Path: "/var/google-sudoers.d", Why: "/etc/sudoers.d/google-oslogin contains #includedir /var/google-sudoers.d: a file here grants sudo", Source: "https://github.com/GoogleCloudPlatform/guest-agent/blob/df9d20376449c38ed4ebb1a93c0b029f09171b71/google_guest_agent/oslogin.go#L524-L562"},
	{Path: "/var/google-users.d", Why: "sshd_config Include /var/google-users.d/*: per-user sshd settings", Source: "https://github.com/GoogleCloudPlatform/guest-agent/blob/df9d20376449c38ed4ebb1a93c0b029f09171b71/google_guest_agent/oslogin.go#L350"},
	{Path: "/oem", Why: "OEM scripts, grub.cfg and sometimes config.ign (Ignition config incl. secrets)", Source: "https://www.flatcar.org/docs/latest/ (unverified)"},
	{Path: "/run/tmpfiles.d", Why: "tmpfiles rules run as root at boot and by systemd-tmpfiles-clean.timer: create/chmod/chown any path, write files (w), copy (C), symlink (L)", Source: "systemd src/basic/constants.h CONF_PATHS_NULSTR(n) = /etc/n, /run/n, /usr/local/lib/n, /usr/lib/n (index id 229508110) used by src/modules-load/modules-load.c conf_file_dirs = CONF_PATHS_NULSTR(\"modules-load.d\")"},
	{Path: "/run/sysctl.d", Why: "sysctl settings applied as root at boot (e.g. kernel.core_pattern=|/path, kernel.modprobe)", Source: "systemd src/basic/constants.h CONF_PATHS_NULSTR(n) = /etc/n, /run/n, /usr/local/lib/n, /usr/lib/n (index id 229508110) used by src/modules-load/modules-load.c conf_file_dirs = CONF_PATHS_NULSTR(\"modules-load.d\")"},
	{Path: "/run/modules-load.d", Why: "kernel modules loaded at boot", Source: "systemd src/basic/constants.h CONF_PATHS_NULSTR(n) = /etc/n, /run/n, /usr/local/lib/n, /usr/lib/n (index id 229508110) used by src/modules-load/modules-load.c conf_file_dirs = CONF_PATHS_NULSTR(\"modules-load.d\") (modules-load.c)"},
	{Path: "/run/binfmt.d", Why: "binfmt_misc interpreters registered at boot: any file with matching magic is run through the named interpreter, flag C runs it with the file's credentials (setuid)", Source: "https://man7.org/linux/man-pages/man5/binfmt.d.5.html"},
	{Path: "/run/environment.d", Why: "environment for user-manager services", Source: "https://manpages.ubuntu.com/manpages/mantic/man5/environment.d.5.html"},
	{Path: "/run/systemd/system-generators", Why: "PID 1 executes every generator here as root at boot and at each daemon-reload", Source: "https://github.com/systemd/systemd/blob/000c4035603e8050f49c257b31e37c8b43bfac79/src/libsystemd/sd-path/path-lookup.c"},
	{Path: "/run/systemd/system-environment-generators", Why: "PID 1 executes environment generators; their output becomes the environment of every service", Source: "https://github.com/systemd/systemd/blob/000c4035603e8050f49c257b31e37c8b43bfac79/src/libsystemd/sd-path/path-lookup.c"},
	{Path: "/run/systemd/generator", Why: "unit files written by generators; loaded by PID 1 like /etc/systemd/system", Source: "https://github.com/systemd/systemd/blob/000c4035603e8050f49c257b31e37c8b43bfac79/src/libsystemd/sd-path/path-lookup.c"},
	{Path: "/run/systemd/generator.early", Why: "highest-priority generated units (override /etc/systemd/system)", Source: "https://github.com/systemd/systemd/blob/000c4035603e8050f49c257b31e37c8b43bfac79/src/libsystemd/sd-path/path-lookup.c"},
	{Path: "/run/systemd/generator.late", Why: "generated units loaded by PID 1", Source: "https://github.com/systemd/systemd/blob/000c4035603e8050f49c257b31e37c8b43bfac79/src/libsystemd/sd-path/path-lookup.c"},
	{Path: "/run/systemd/user", Why: "global user-manager units (loaded by every user manager, incl. user@0)", Source: "https://github.com/systemd/systemd/blob/000c4035603e8050f49c257b31e37c8b43bfac79/src/libsystemd/sd-path/path-lookup.c"},
	{Path: "/run/systemd/user-generators", Why: "generators executed by user managers", Source: "https://github.com/systemd/systemd/blob/000c4035603e8050f49c257b31e37c8b43bfac79/src/libsystemd/sd-path/path-lookup.c"},
	{Path: "/run/systemd/system.conf.d", Why: "DefaultEnvironment=/ManagerEnvironment= apply to every service (e.g. LD_PRELOAD) after daemon-reexec", Source: "https://man7.org/linux/man-pages/man5/systemd-system.conf.5.html (system.conf.d search path incl. /run/systemd/system.conf.d)"},
	{Path: "/run/systemd/user.conf.d", Why: "DefaultEnvironment for all user managers", Source: "https://man.archlinux.org/man/user.conf.d.5.en"},
	{Path: "/run/systemd/network", Why: "runtime .network/.netdev/.link files: routes, DNS, interface ownership", Source: "https://github.com/GoogleCloudPlatform/guest-agent/blob/df9d20376449c38ed4ebb1a93c0b029f09171b71/google_guest_agent/network/manager/ (\"/run/systemd/network/\")"},
	{Path: "/run/systemd/resolve", Why: "the kubelet copies this file into every pod with dnsPolicy Default (incl. CoreDNS, whose upstreams become the cluster's)", Source: "kubernetes/kubernetes:cmd/kubeadm/app/componentconfigs/kubelet_unix.go (mutateResolverConfig -> kubeletSystemdResolverConfig)"},
	{Path: "/run/systemd/resolved.conf.d", Why: "resolver configuration (DNS servers, domains): DNS hijack of image pulls, API server and IMDS names", Source: "https://github.com/awslabs/amazon-eks-ami/blob/81fec2e895854f599974fe4d3d72f61c0a9aaffa/nodeadm/internal/system/resolve.go#L18"},
	{Path: "/run/systemd/journald.conf.d", Why: "journald config (ForwardToSyslog/Storage): silence or redirect logs", Source: "https://man7.org/linux/man-pages/man5/journald.conf.5.html (unverified)"},
	{Path: "/run/netplan", Why: "runtime netplan YAML rendered into networkd/NM config", Source: "https://github.com/GoogleCloudPlatform/guest-agent/blob/df9d20376449c38ed4ebb1a93c0b029f09171b71/google_guest_agent/network/manager/manager_linux.go#L21"},
	{Path: "/run/NetworkManager", Why: "runtime conf.d and system-connections (keyfile plugin also reads /run)", Source: "https://networkmanager.dev/docs/api/latest/NetworkManager.conf.html (unverified)"},
	{Path: "/run/nodeadm", Why: "marker/state nodeadm reads on boot (run/nodeadm/init)", Source: "https://github.com/awslabs/amazon-eks-ami/blob/81fec2e895854f599974fe4d3d72f61c0a9aaffa/nodeadm/internal/system/marker.go#L11"},
	{Path: "/run/machine-config-daemon-bin", Why: "MCD stashes its container /usr/bin here and executes those binaries in the host namespace as root", Source: "https://github.com/openshift/machine-config-operator/blob/7ff337a4ffac8e7562692181178ede61e4b2eec5/pkg/daemon/daemon.go#L211"},
	{Path: "/run/flannel", Why: "subnet.env read by the flannel CNI plugin (run as root by the runtime) to build pod networking", Source: "https://github.com/k3s-io/k3s/blob/0136cf258954a458da1404858396342724b93d24/install.sh (killall removes /run/flannel)"},
	{Path: "/run/containers", Why: "CRI-O's and Podman's run root: every running container's mounted root filesystem, and root's registry login", Source: "https://github.com/containers/storage/blob/main/storage.conf (runroot)"},
	{Path: "/run/kata-containers", Why: "Kata's host side of every kata pod's shared filesystem", Source: "kata-containers/kata-containers src/runtime virtcontainers (shared dir)"},
	{Path: "/var/lib/cni", Why: "IPAM allocations and cached ADD results replayed on DEL; tampering steals pod IPs", Source: "https://github.com/k3s-io/k3s/blob/0136cf258954a458da1404858396342724b93d24/install.sh (killall: rm -rf /var/lib/cni/)"},
	{Path: "/var/lib/crio", Why: "CRI-O state (version file, clean-shutdown markers) trusted at start", Source: "https://github.com/cri-o/cri-o/blob/f954a17e505f8931e91004403b5f5eac71ab6085/pkg/config/config.go (unverified)"},
	{Path: "/var/lib/cri-dockerd", Why: "sandbox checkpoints (port mappings, netns) read at start and at sandbox teardown", Source: "Mirantis/cri-dockerd@v0.4.3:cmd/cri/options/options.go#119"},
	{Path: "/var/lib/cilium", Why: "BPF sources/templates compiled and loaded into the kernel by the agent", Source: "https://github.com/cilium/cilium/blob/0036b1f4dd79a843cb93e1071f152bcaf9c5b31b/pkg/defaults/defaults.go (LibraryPath)"},
	{Path: "/var/lib/calico", Why: "nodename / mtu files read by the CNI plugin run as root by the runtime", Source: "https://github.com/projectcalico/calico/blob/00de84fc09575e1c5539ee960eb31b513ca052c6/cni-plugin/pkg/install/install.go (unverified)"},
	{Path: "/srv/kubernetes", Why: "PathSrvKubernetes: server.key, service-account.key, encryptionconfig.yaml, aws-iam-authenticator key.pem", Source: "https://github.com/kubernetes/kops/blob/268927e26409f861634e18f3632c9dd483c350cf/nodeup/pkg/model/context.go#L199-L205"},
	{Path: "/var/lib/kubernetes", Why: "ca.key, kube-api-server.key, service-accounts.key, encryption-config.yaml, controller-manager/scheduler kubeconfigs", Source: "https://github.com/kelseyhightower/kubernetes-the-hard-way/blob/52eb26dad1a3e9e8083a899bc854421eb4842a73/docs/08-bootstrapping-kubernetes-controllers.md"},
	{Path: "/var/lib/kube-proxy", Why: "kube-proxy's kubeconfig on kOps and kube-up nodes", Source: "kubernetes/kops nodeup (kube-proxy)"},
	{Path: "/var/lib/kubelet/seccomp", Why: "Localhost seccomp profiles the kubelet loads for every pod that names one", Source: "https://kubernetes.io/docs/tutorials/security/seccomp/"},
	{Path: "/run/secrets-store-csi-providers", Why: "the Secrets Store CSI driver dials the provider socket it finds here and hands it the pod's service-account token and secret parameters", Source: "https://github.com/kubernetes-sigs/secrets-store-csi-driver/blob/main/pkg/secrets-store/provider_client.go"},
	{Path: "/mnt/stateful_partition", Why: "COS's stateful partition: /var and /home (the kubelet's keys, kube-env) are bind mounts of it", Source: "https://cloud.google.com/container-optimized-os/docs/concepts/disks-and-filesystem"},
	{Path: "/run/nvidia", Why: "the NVIDIA driver container's root (driver/) and toolkit: the container toolkit's runtime hook loads libraries and runs binaries from there for every GPU container", Source: "https://github.com/NVIDIA/gpu-operator/blob/main/assets/state-driver/0500_daemonset.yaml (run-nvidia, Bidirectional); NVIDIA/nvidia-container-toolkit --driver-root"},
	{Path: "/etc/apparmor.d", Why: "AppArmor profiles loaded at boot", Source: "apparmor.d(5)"},
}

// windowsSensitiveHostPaths are the same on Windows nodes. Not
// configurable: they apply beside whatever Linux list the policy sets.
var windowsSensitiveHostPaths = [...]Fact{
	{Path: "c:", Why: "the system drive", Source: "Windows"},
	{Path: "c:/windows", Why: "the operating system", Source: "Windows"},
	{Path: "c:/k", Why: "the kubelet, kube-proxy and kubeconfig of the upstream install", Source: "https://github.com/kubernetes-sigs/sig-windows-tools"},
	{Path: "c:/var/lib/kubelet", Why: "the kubelet's state", Source: "kubernetes/kubernetes:pkg/kubelet/config/defaults.go"},
	{Path: "c:/etc/kubernetes", Why: "kubeadm's kubeconfigs and PKI", Source: "https://github.com/kubernetes-sigs/sig-windows-tools"},
	{Path: "c:/programdata/containerd", Why: "containerd's state and config", Source: "containerd/containerd defaults_windows.go"},
	{Path: "c:/program files/containerd", Why: "containerd's binaries", Source: "containerd/containerd defaults_windows.go"},
	{Path: "c:/programdata/docker", Why: "Docker's state", Source: "moby/moby daemon/config (Windows data-root)"},
	{Path: "c:/program files/docker", Why: "Docker's binaries", Source: "moby/moby"},
	{Path: "c:/opt/cni", Why: "CNI binaries the runtime runs as SYSTEM", Source: "https://github.com/kubernetes-sigs/sig-windows-tools"},
	{Path: "c:/etc/cni/net.d", Why: "CNI config names plugin exes run as SYSTEM for every pod; calico-kubeconfig holds a service-account token", Source: "kubernetes-sigs/sig-windows-tools@401ee6f:hostprocess/Install-Containerd.ps1#23,40; @v0.1.6:hostprocess/calico/install/calico-install.ps1#2,30; hostprocess/flannel/flanneld/start.ps1#26"},
	{Path: "c:/var/lib/cni", Why: "IPAM leases and cached results trusted on DEL", Source: "containernetworking/plugins@v1.9.1:plugins/ipam/host-local/backend/disk/backend.go#32"},
	{Path: "c:/azuredata", Why: "CustomData.bin is the node provisioning payload (bootstrap token / SP secret / certs); the CSE scripts are re-run by node-reset and re-provisioning", Source: "Azure/AgentBaker@06836ee:parts/windows/csecmd.ps1#2-18; parts/windows/kuberneteswindowssetup.ps1.template#245-267"},
	{Path: "c:/aks-tools", Why: "oras.exe run by CSE as SYSTEM to pull node artifacts; config.json registry auth", Source: "Azure/AgentBaker@06836ee:staging/cse/windows/networkisolatedclusterfunc.tests.ps1#113 (C:\\aks-tools\\oras\\config.json)"},
	{Path: "c:/calicowindows", Why: "config.ps1 is dot-sourced by Calico's services; holds datastore credentials", Source: "Azure/AgentBaker@06836ee:staging/cse/windows/calicofunc.ps1#7-8,60"},
	{Path: "c:/programdata/kubernetes", Why: "node kubeconfig (aws-iam-authenticator exec) and kubelet config", Source: "awslabs/amazon-eks-ami@81fec2e:log-collector-script/windows/eks-log-collector.ps1#309-310"},
	{Path: "c:/programdata/amazon/eks", Why: "CNI config for vpc-shared-eni on Windows", Source: "awslabs/amazon-eks-ami@81fec2e:log-collector-script/windows/eks-log-collector.ps1#260,311"},
	{Path: "c:/program files/amazon/eks", Why: "bootstrap script and helper modules", Source: "https://gist.github.com/tomellis/180675b096acc408f322de8ee1ffacf0 (EKS Windows user data calls $env:ProgramFiles\\Amazon\\EKS\\Start-EKSBootstrap.ps1)"},
	{Path: "c:/program files/kubernetes", Why: "service binaries run as SYSTEM", Source: "not confirmed in a readable source (EKS Windows AMI is closed); reported by EKS docs (unverified)"},
	{Path: "c:/etc/kube-flannel", Why: "flanneld network config read at start", Source: "kubernetes-sigs/sig-windows-tools@v0.1.6:hostprocess/flannel/flanneld/start.ps1#8-11"},
	{Path: "c:/sourcevip", Why: "source VIP for overlay networking trusted by kube-proxy", Source: "kubernetes-sigs/sig-windows-tools@v0.1.6:hostprocess/flannel/kube-proxy/start.ps1#8-35"},
}

// DefaultSensitiveHostPaths returns the built-in list (a copy).
func DefaultSensitiveHostPaths() []string { return factPaths(defaultSensitiveHostPaths[:]) }

// WindowsSensitiveHostPaths returns the built-in Windows list (a copy).
func WindowsSensitiveHostPaths() []string { return factPaths(windowsSensitiveHostPaths[:]) }

// writableSensitiveHostPath forbids writable mounts of a sensitive host path,
// of a directory that contains one, or of anything inside one.
type writableSensitiveHostPath struct{ paths pathList }

func defineWritableSensitiveHostPath() Definition {
	return Definition{
		Meta: Meta{
			ID:           "writable-sensitive-hostpath",
			Default:      config.Enforce,
			Summary:      "a writable mount of a sensitive path, of a directory containing one (`/var` contains `/var/lib/kubelet`), or of anything inside one (`/etc/cni/net.d`); also a hostPath volume no container mounts (an ephemeral container can mount it writable). `/` and `C:\\` match only themselves. Windows paths are compared case-insensitively with either slash.",
			Why:          "the node runs, trusts or configures itself from these paths as root",
			Reads:        []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts", "spec.template.spec.*containers[*].env"},
			Precondition: precondition.HostPath,
		},
		New: func(o Options) Rule { return newWritableSensitiveHostPath(o.SensitiveHostPaths) },
	}
}

func newWritableSensitiveHostPath(paths []string) writableSensitiveHostPath {
	return writableSensitiveHostPath{paths: configuredList(paths, defaultSensitiveHostPaths[:], windowsSensitiveHostPaths[:])}
}

func (r writableSensitiveHostPath) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if !m.Writable {
			continue
		}
		if rel, p := r.paths.matchWhere(m, func(_ relation, protected string) bool { return !carvedOut(m, protected, Write) }); rel != unrelated {
			errs = append(errs, forbidden(m.Field(),
				m.String()+m.writably()+", "+rel.describe(p, "sensitive host path")+
					": the node runs, trusts or configures itself from it as root; set readOnly: true", t.grant(m)))
		}
	}
	return errs
}
