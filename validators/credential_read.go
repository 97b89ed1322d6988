package validators

import (
	"context"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// defaultCredentialPaths hold node or cluster credentials, or other
// containers' files and secrets, so that even a read-only mount hands them
// out. Kubeadm's /etc/kubernetes is listed file by file: its manifests/ and
// other subdirectories hold no key.
var defaultCredentialPaths = [...]Fact{
	{Path: "/etc/kubernetes/admin.conf", Why: "cluster-admin kubeconfig with an embedded client key (group kubeadm:cluster-admins); control-plane nodes only", Source: "https://github.com/kubernetes/kubernetes/blob/00886ac01fec1c8432967e8bb597828f46a9ba8b/cmd/kubeadm/app/constants/constants.go"},
	{Path: "/etc/kubernetes/super-admin.conf", Why: "break-glass kubeconfig in system:masters (bypasses RBAC); control-plane nodes only", Source: "https://github.com/kubernetes/kubernetes/blob/00886ac01fec1c8432967e8bb597828f46a9ba8b/cmd/kubeadm/app/constants/constants.go"},
	{Path: "/etc/kubernetes/kubelet.conf", Why: "the kubelet's kubeconfig (node identity; client cert/key embedded or pointing at /var/lib/kubelet/pki)", Source: "https://github.com/kubernetes/kubernetes/blob/00886ac01fec1c8432967e8bb597828f46a9ba8b/cmd/kubeadm/app/constants/constants.go"},
	{Path: "/etc/kubernetes/bootstrap-kubelet.conf", Why: "bootstrap-token kubeconfig used for TLS bootstrap; the token can create CSRs (and on misconfigured clusters more) until it expires", Source: "https://github.com/kubernetes/kubernetes/blob/00886ac01fec1c8432967e8bb597828f46a9ba8b/cmd/kubeadm/app/constants/constants.go"},
	{Path: "/etc/kubernetes/controller-manager.conf", Why: "kube-controller-manager kubeconfig with client key; the controller manager can mint any service-account token", Source: "https://github.com/kubernetes/kubernetes/blob/00886ac01fec1c8432967e8bb597828f46a9ba8b/cmd/kubeadm/app/constants/constants.go"},
	{Path: "/etc/kubernetes/scheduler.conf", Why: "kube-scheduler kubeconfig with client key", Source: "https://github.com/kubernetes/kubernetes/blob/00886ac01fec1c8432967e8bb597828f46a9ba8b/cmd/kubeadm/app/constants/constants.go"},
	{Path: "/etc/kubernetes/pki", Why: "control-plane nodes: ca.key, sa.key, front-proxy-ca.key, etcd/ca.key, apiserver*.key, apiserver-etcd-client.key; worker nodes: ca.crt only (public)", Source: "https://github.com/kubernetes/kubernetes/blob/00886ac01fec1c8432967e8bb597828f46a9ba8b/cmd/kubeadm/app/constants/constants.go"},
	{Path: "/etc/kubernetes/tmp", Why: "kubeadm creates backups here (kubeadm-backup-etcd-<ts> holds a copy of the etcd data dir, kubeadm-backup-manifests) and dry-run output", Source: "https://github.com/kubernetes/kubernetes/blob/00886ac01fec1c8432967e8bb597828f46a9ba8b/cmd/kubeadm/app/constants/constants.go"},
	{Path: "/etc/kubernetes/ssl", Why: "kube_cert_dir: Kubespray's certificate and key directory (kubeadm pki is symlinked/compat at /etc/kubernetes/pki)", Source: "https://github.com/kubernetes-sigs/kubespray/blob/46dbdd3994b32640bcd806b0097f50e8fdf1d514/roles/kubespray_defaults/defaults/main/main.yml#L190"},
	{Path: "/etc/kubernetes/tokens", Why: "kube_token_dir: static tokens mounted into the apiserver", Source: "https://github.com/kubernetes-sigs/kubespray/blob/46dbdd3994b32640bcd806b0097f50e8fdf1d514/roles/kubespray_defaults/defaults/main/main.yml#L196"},
	{Path: "/etc/kubernetes/kubelet/kubeconfig", Why: "kubelet kubeconfig rendered from settings (exec aws-iam-authenticator or token); Bottlerocket keeps kubelet files in /etc/kubernetes/kubelet", Source: "https://github.com/bottlerocket-os/bottlerocket/blob/91632ff50cafaae1d5b3710a8f799141b5966595/sources/shared-defaults/kubernetes-services.toml#L28"},
	{Path: "/etc/kubernetes/kubelet/bootstrap-kubeconfig", Why: "bootstrap kubeconfig (carries settings.kubernetes.bootstrap-token when used)", Source: "https://github.com/bottlerocket-os/bottlerocket/blob/91632ff50cafaae1d5b3710a8f799141b5966595/sources/shared-defaults/kubernetes-services.toml#L33"},
	{Path: "/etc/kubernetes/azure.json", Why: "cloud config incl. aadClientSecret (service principal secret) or managed identity ids; used by kubelet and the ACR credential provider", Source: "https://github.com/Azure/AgentBaker/blob/06836ee2301e362039418c3a7ed0fe6004a641fd/parts/linux/cloud-init/artifacts/cse_config.sh#L400-L421"},
	{Path: "/etc/kubernetes/certs", Why: "client.key (kubelet client key when not TLS-bootstrapped), kubeletserver.key, aci-connector-key.pem; ca.crt and apiserver.crt are public", Source: "https://github.com/Azure/AgentBaker/blob/06836ee2301e362039418c3a7ed0fe6004a641fd/parts/linux/cloud-init/artifacts/cse_config.sh#L492"},
	{Path: "/etc/kubernetes/kubeconfig", Why: "node (bootstrap) kubeconfig used by the kubelet on OpenShift", Source: "https://github.com/openshift/machine-config-operator/blob/7ff337a4ffac8e7562692181178ede61e4b2eec5/pkg/daemon/daemon.go#L240"},
	{Path: "/etc/kubernetes/static-pod-resources", Why: "per-revision secrets and configmaps of kube-apiserver/etcd/kcm static pods (serving keys, etcd client keys, SA signing keys)", Source: "https://github.com/openshift/machine-config-operator/blob/7ff337a4ffac8e7562692181178ede61e4b2eec5/pkg/daemon/daemon.go#L238"},
	{Path: "/etc/kubernetes/kubeconfig-kubelet", Why: "kubelet kubeconfig", Source: "https://github.com/siderolabs/talos/blob/ad8823176e75b9cd07647ddde13c34f2ab77c663/pkg/machinery/constants/constants.go#L424"},
	{Path: "/etc/kubernetes/bootstrap-kubeconfig", Why: "kubelet bootstrap kubeconfig (bootstrap token)", Source: "https://github.com/siderolabs/talos/blob/ad8823176e75b9cd07647ddde13c34f2ab77c663/pkg/machinery/constants/constants.go#L348"},
	{Path: "/var/lib/kubelet/pods", Why: "every pod's secrets and tokens", Source: "kubernetes/kubernetes:pkg/kubelet/config/defaults.go (DefaultKubeletPodsDirName)"},
	{Path: "/var/lib/kubelet/pki", Why: "node identity credentials", Source: "kubernetes/kubernetes:pkg/kubelet (cert-dir default <root-dir>/pki)"},
	{Path: "/var/lib/kubelet/kubeconfig", Why: "kubelet kubeconfig; on kOps/GCE/hard-way it embeds or points to the node key", Source: "https://github.com/kubernetes/kops/blob/268927e26409f861634e18f3632c9dd483c350cf/nodeup/pkg/model/context.go#L224"},
	{Path: "/var/lib/kubelet/bootstrap-kubeconfig", Why: "bootstrap token able to request node client certs (auto-approved)", Source: "https://kubernetes.io/docs/reference/access-authn-authz/kubelet-tls-bootstrapping/"},
	{Path: "/var/lib/kubelet/config.json", Why: "the kubelet reads registry credentials from <root-dir>/config.json (and .dockercfg); OpenShift writes the cluster pull secret here", Source: "https://github.com/kubernetes/kubernetes/blob/00b4ef3bcf8b364c497670c95d6e50cde66c8ff6/pkg/credentialprovider/config.go (DefaultDockercfgPaths/DefaultDockerConfigJSONPaths: preferredPath, workingDir, $HOME, '/') + cmd/kubelet/app/server.go credentialprovider.SetPreferredDockercfgPath(kubeServer.RootDirectory); https://github.com/openshift/machine-config-operator/blob/7ff337a4ffac8e7562692181178ede61e4b2eec5/templates/common/_base/files/pull-secret.yaml#L2"},
	{Path: "/var/lib/kubelet/.dockercfg", Why: "legacy registry credential file searched in the kubelet root dir", Source: "https://github.com/kubernetes/kubernetes/blob/00b4ef3bcf8b364c497670c95d6e50cde66c8ff6/pkg/credentialprovider/config.go (DefaultDockercfgPaths/DefaultDockerConfigJSONPaths: preferredPath, workingDir, $HOME, '/') + cmd/kubelet/app/server.go credentialprovider.SetPreferredDockercfgPath(kubeServer.RootDirectory)"},
	{Path: "/var/lib/kubelet/checkpoints", Why: "checkpoint archives of running containers (memory pages and rootfs diff) of other pods: their in-memory secrets", Source: "kubernetes/kubernetes pkg/kubelet/kubelet_getters.go getCheckpointsDir() = <root>/checkpoints (config.DefaultKubeletCheckpointsDirName; index id 233298365)"},
	{Path: "/var/lib/kubelet/kubelet.key", Why: "the hard way installs the node's kubelet key and cert directly in /var/lib/kubelet (outside /var/lib/kubelet/pki)", Source: "https://github.com/kelseyhightower/kubernetes-the-hard-way/blob/52eb26dad1a3e9e8083a899bc854421eb4842a73/docs/04-certificate-authority.md#L84-L92"},
	{Path: "/.docker/config.json", Why: "rootDirPath '/' is the last search path for .docker/config.json", Source: "https://github.com/kubernetes/kubernetes/blob/00b4ef3bcf8b364c497670c95d6e50cde66c8ff6/pkg/credentialprovider/config.go (DefaultDockercfgPaths/DefaultDockerConfigJSONPaths: preferredPath, workingDir, $HOME, '/') + cmd/kubelet/app/server.go credentialprovider.SetPreferredDockercfgPath(kubeServer.RootDirectory)"},
	{Path: "/.dockercfg", Why: "rootDirPath '/' is the last search path for .dockercfg / .dockerconfigjson", Source: "https://github.com/kubernetes/kubernetes/blob/00b4ef3bcf8b364c497670c95d6e50cde66c8ff6/pkg/credentialprovider/config.go (DefaultDockercfgPaths/DefaultDockerConfigJSONPaths: preferredPath, workingDir, $HOME, '/') + cmd/kubelet/app/server.go credentialprovider.SetPreferredDockercfgPath(kubeServer.RootDirectory)"},
	{Path: "/var/lib/etcd", Why: "etcd's data: every Secret of the cluster", Source: "https://etcd.io/docs/latest/op-guide/configuration/ (--data-dir)"},
	{Path: "/root", Why: "root's home: kubeconfigs, cloud CLI credentials, ssh keys, ~/.docker/config.json", Source: "moby/moby cli config (~/.docker/config.json)"},
	{Path: "/etc/rancher", Why: "k3s's and RKE2's admin kubeconfig and config with tokens", Source: "https://docs.k3s.io/cluster-access"},
	{Path: "/var/lib/rancher/k3s/server", Why: "k3s server token and TLS keys", Source: "https://docs.k3s.io/security/secrets-encryption"},
	{Path: "/var/lib/rancher/rke2/server", Why: "RKE2 server token and TLS keys", Source: "https://docs.rke2.io/security/certificates"},
	{Path: "/var/lib/rancher/k3s/agent", Why: "the k3s agent's kubelet client key and kubeconfigs", Source: "https://docs.k3s.io/security/certificates"},
	{Path: "/var/lib/rancher/rke2/agent", Why: "the RKE2 agent's kubelet client key and kubeconfigs", Source: "https://docs.rke2.io/security/certificates"},
	{Path: "/var/lib/k0s/pki", Why: "k0s's cluster PKI", Source: "https://docs.k0sproject.io/stable/certificates/"},
	{Path: "/var/lib/k0s/kubelet.conf", Why: "k0s's kubelet kubeconfig", Source: "https://docs.k0sproject.io/stable/"},
	{Path: "/var/lib/k0s/kubelet-bootstrap.conf", Why: "k0s's kubelet bootstrap token", Source: "https://docs.k0sproject.io/stable/"},
	{Path: "/var/lib/k0s/kubelet/pki", Why: "k0s's kubelet certificates", Source: "https://docs.k0sproject.io/stable/"},
	{Path: "/var/lib/k0s/etcd", Why: "k0s's etcd data", Source: "https://docs.k0sproject.io/stable/"},
	{Path: "/etc/shadow", Why: "password hashes", Source: "shadow(5)"},
	{Path: "/etc/gshadow", Why: "group password hashes", Source: "gshadow(5)"},
	{Path: "/var/roothome", Why: "root's home on ostree systems", Source: "https://docs.fedoraproject.org/en-US/fedora-coreos/"},
	{Path: "/var/lib/waagent", Why: "ovf-env.xml, certificates *.prv, extension settings (CSE protected settings), extension handler code run as root", Source: "https://github.com/Azure/WALinuxAgent (lib_dir /var/lib/waagent) (unverified)"},
	{Path: "/system/state", Why: "Talos's machine configuration with the cluster's tokens", Source: "https://www.talos.dev/latest/learn-more/architecture/"},
	{Path: "/etc/srv/kubernetes", Why: "pki/kubelet.key, pki/konnectivity-agent/client.key, per-component kubeconfigs with tokens (create-kubeconfig writes /etc/srv/kubernetes/<component>/kubeconfig)", Source: "https://github.com/kubernetes/kubernetes/blob/master/cluster/gce/gci/configure-helper.sh (create-node-pki, write-pki-data, create-kubelet-kubeconfig, create-kubeconfig; read via index id 4144431); https://github.com/kubernetes/kops/blob/268927e26409f861634e18f3632c9dd483c350cf/nodeup/pkg/model/context.go#L199"},
	{Path: "/home/kubernetes/kube-env", Why: "shell-ified copy of the kube-env metadata: KUBELET_CERT/KUBELET_KEY, KUBE_PROXY_TOKEN, CA_KEY on masters; sourced by configure-helper", Source: "https://github.com/kubernetes/kubernetes/blob/master/cluster/gce/gci/configure.sh download-kube-env (writes \"${KUBE_HOME}/kube-env\"; index ids 1248676161, 67118768331)"},
	{Path: "/home/kubernetes/kube-env.yaml", Why: "raw kube-env on masters", Source: "https://github.com/kubernetes/kubernetes/blob/master/cluster/gce/gci/configure.sh download-kube-env (writes \"${KUBE_HOME}/kube-env\"; index ids 1248676161, 67118768331)"},
	{Path: "/var/lib/kube-proxy/kubeconfig", Why: "kube-proxy credential (issued client cert on kOps control plane, bootstrap-issued otherwise; token on GCE)", Source: "https://github.com/kubernetes/kops/blob/268927e26409f861634e18f3632c9dd483c350cf/nodeup/pkg/model/kube_proxy.go#L82; https://github.com/kelseyhightower/kubernetes-the-hard-way/blob/52eb26dad1a3e9e8083a899bc854421eb4842a73/docs/05-kubernetes-configuration-files.md#L194"},
	{Path: "/srv/kubernetes", Why: "PathSrvKubernetes: server.key, service-account.key, encryptionconfig.yaml, aws-iam-authenticator key.pem", Source: "https://github.com/kubernetes/kops/blob/268927e26409f861634e18f3632c9dd483c350cf/nodeup/pkg/model/context.go#L199-L205"},
	{Path: "/var/lib/kops/kubeconfig", Why: "kubeconfig used by the channels addon manager", Source: "https://github.com/kubernetes/kops/blob/268927e26409f861634e18f3632c9dd483c350cf/nodeup/pkg/model/channels.go#L36"},
	{Path: "/var/lib/kube-router/kubeconfig", Why: "kube-router credential", Source: "https://github.com/kubernetes/kops/blob/268927e26409f861634e18f3632c9dd483c350cf/nodeup/pkg/model/networking/kube_router.go#L53"},
	{Path: "/var/lib/kubectl/kubeconfig", Why: "admin kubectl kubeconfig written by nodeup", Source: "https://github.com/kubernetes/kops/blob/268927e26409f861634e18f3632c9dd483c350cf/nodeup/pkg/model/kubectl.go#L70"},
	{Path: "/var/lib/kube-controller-manager/kubeconfig", Why: "controller-manager client key", Source: "https://github.com/kubernetes/kops/blob/268927e26409f861634e18f3632c9dd483c350cf/nodeup/pkg/model/kube_controller_manager.go"},
	{Path: "/var/lib/kube-scheduler", Why: "scheduler config and kubeconfig", Source: "https://github.com/kubernetes/kops/blob/268927e26409f861634e18f3632c9dd483c350cf/nodeup/pkg/model/kube_scheduler.go"},
	{Path: "/etc/sysconfig/kops-configuration", Why: "EnvironmentFile of nodeup: may contain state-store and OpenStack credentials (mode 0600 by design)", Source: "https://github.com/kubernetes/kops/blob/268927e26409f861634e18f3632c9dd483c350cf/nodeup/pkg/bootstrap/install.go#L123-L142"},
	{Path: "/etc/ssl/etcd/ssl", Why: "etcd_cert_dir: admin-<host>-key.pem, member-<host>-key.pem, node-<host>-key.pem; node keys are synced to every k8s node when Calico/Cilium/flannel use etcd", Source: "https://github.com/kubernetes-sigs/kubespray/blob/46dbdd3994b32640bcd806b0097f50e8fdf1d514/roles/etcd_defaults/defaults/main.yml#L19-L20; roles/etcd/tasks/gen_certs_script.yml"},
	{Path: "/etc/calico/certs", Why: "hard links of the etcd client key (key.pem) for calico-node, typha and calico-apiserver keys", Source: "https://github.com/kubernetes-sigs/kubespray/blob/46dbdd3994b32640bcd806b0097f50e8fdf1d514/roles/network_plugin/calico/tasks/install.yml#L28-L39"},
	{Path: "/var/lib/kubernetes", Why: "ca.key, kube-api-server.key, service-accounts.key, encryption-config.yaml, controller-manager/scheduler kubeconfigs", Source: "https://github.com/kelseyhightower/kubernetes-the-hard-way/blob/52eb26dad1a3e9e8083a899bc854421eb4842a73/docs/08-bootstrapping-kubernetes-controllers.md"},
	{Path: "/etc/etcd", Why: "etcd server key and CA copied here", Source: "https://github.com/kelseyhightower/kubernetes-the-hard-way/blob/52eb26dad1a3e9e8083a899bc854421eb4842a73/docs/07-bootstrapping-etcd.md"},
	{Path: "/var/lib/soci-snapshotter-grpc", Why: "lazily pulled image content of every container", Source: "https://github.com/awslabs/amazon-eks-ami/blob/81fec2e895854f599974fe4d3d72f61c0a9aaffa/nodeadm/internal/containerd/config.template.toml#L41"},
	{Path: "/etc/systemd/system/k3s.service.env", Why: "all K3S_* variables from install time incl. K3S_TOKEN (cluster join secret), mode 0600", Source: "https://github.com/k3s-io/k3s/blob/0136cf258954a458da1404858396342724b93d24/install.sh create_env_file"},
	{Path: "/etc/systemd/system/k3s-agent.service.env", Why: "K3S_TOKEN / K3S_URL for agents", Source: "https://github.com/k3s-io/k3s/blob/0136cf258954a458da1404858396342724b93d24/install.sh create_env_file"},
	{Path: "/etc/default/rke2-server", Why: "environment (may hold RKE2_TOKEN)", Source: "https://github.com/rancher/rke2/blob/6ce1a8019e9d0b81eb7a715edbc2b8ac12d26da0/bundle/lib/systemd/system/rke2-server.service#L12-L14"},
	{Path: "/etc/default/rke2-agent", Why: "RKE2 agent's environment file (token)", Source: "rancher/rke2 install.sh (rke2-agent.service EnvironmentFile)"},
	{Path: "/usr/local/lib/systemd/system/rke2-server.env", Why: "environment file installed with the tarball", Source: "https://github.com/rancher/rke2/blob/6ce1a8019e9d0b81eb7a715edbc2b8ac12d26da0/bundle/lib/systemd/system/rke2-server.service#L14"},
	{Path: "/usr/local/lib/systemd/system/rke2-agent.env", Why: "RKE2 agent's environment file (token)", Source: "rancher/rke2 install.sh"},
	{Path: "/etc/k0s", Why: "k0s.yaml (may embed tokens/secrets such as etcd/external storage creds)", Source: "https://github.com/k0sproject/k0s/blob/dff90cee9a6e8e22c6d0f3efef0f9a77fc223be4/pkg/constant/constant_unix.go#L13"},
	{Path: "/var/snap/microk8s", Why: "MicroK8s's credentials and certificates (under each revision and current)", Source: "https://microk8s.io/docs/services-and-ports"},
	{Path: "/system/secrets", Why: "etcd PKI (/system/secrets/etcd), kubelet and static kubernetes secrets", Source: "https://github.com/siderolabs/talos/blob/ad8823176e75b9cd07647ddde13c34f2ab77c663/pkg/machinery/constants/constants.go#L290-L461"},
	{Path: "/var/lib/etcd.snapshot", Why: "uploaded etcd snapshot = every Secret of the cluster", Source: "https://github.com/siderolabs/talos/blob/ad8823176e75b9cd07647ddde13c34f2ab77c663/pkg/machinery/constants/constants.go#L476"},
	{Path: "/etc/machine-config-daemon", Why: "currentconfig is the full rendered MachineConfig, whose files include the pull secret (/var/lib/kubelet/config.json contents); node-annotations.json", Source: "https://github.com/openshift/machine-config-operator/blob/7ff337a4ffac8e7562692181178ede61e4b2eec5/pkg/daemon/daemon.go#L200"},
	{Path: "/etc/ignition-machine-config-encapsulated.json", Why: "MachineConfig encapsulated by Ignition at first boot (includes pull secret)", Source: "https://github.com/openshift/machine-config-operator/blob/7ff337a4ffac8e7562692181178ede61e4b2eec5/pkg/daemon/constants/constants.go#L78"},
	{Path: "/etc/mcs-machine-config-content.json", Why: "served MachineConfig content", Source: "https://github.com/openshift/machine-config-operator/blob/7ff337a4ffac8e7562692181178ede61e4b2eec5/pkg/daemon/daemon.go#L229"},
	{Path: "/etc/containerd/certs.d", Why: "hosts.toml may name client certificates/keys (client = [[cert, key]]) stored next to it for mTLS registries", Source: "https://github.com/containerd/containerd/blob/main/docs/hosts.md; https://github.com/awslabs/amazon-eks-ami/blob/81fec2e895854f599974fe4d3d72f61c0a9aaffa/nodeadm/internal/containerd/config.template.toml#L21"},
	{Path: "/etc/docker/certs.d", Why: "per-registry client.cert/client.key pairs", Source: "https://github.com/openshift/machine-config-operator/blob/7ff337a4ffac8e7562692181178ede61e4b2eec5/pkg/daemon/daemon.go#L232"},
	{Path: "/etc/containers/certs.d", Why: "per-registry CA and client cert/key", Source: "containers/image@v5.36.1:docker/docker_client.go#70"},
	{Path: "/etc/containerd/ocicrypt/keys", Why: "private keys that decrypt encrypted images (key_model node)", Source: "containerd/containerd@v2.2.7:cmd/containerd/command/config.go#150; docs/cri/decryption.md#32"},
	{Path: "/var/lib/containerd", Why: "snapshots of every container (image layers and each container's writable upper dir): secrets baked into images or written by other pods; covered for writes only", Source: "https://github.com/awslabs/amazon-eks-ami/blob/81fec2e895854f599974fe4d3d72f61c0a9aaffa/nodeadm/internal/containerd/config.template.toml#L2"},
	{Path: "/var/lib/docker", Why: "overlay2 layers and container upper dirs of every container", Source: "https://github.com/kubernetes-sigs/kubespray/blob/46dbdd3994b32640bcd806b0097f50e8fdf1d514/roles/kubespray_defaults/defaults/main/main.yml#L395"},
	{Path: "/var/lib/containers/storage", Why: "image layers and container upper dirs", Source: "https://github.com/containers/storage/blob/83cf57466529353aced8f1803f2302698e0b5cb7/storage.conf#L20-L32"},
	{Path: "/run/containers", Why: "CRI-O's and Podman's run root: mounted root filesystems of every running container, root's registry login (0/auth.json)", Source: "https://github.com/containers/storage/blob/main/storage.conf (runroot); containers-auth.json(5)"},
	{Path: "/run/user", Why: "per-user auth.json and rootless podman API sockets", Source: "containers/image@v5.36.1:pkg/docker/config/config.go#43,575"},
	{Path: "/etc/crio/keys", Why: "private keys for encrypted images", Source: "https://github.com/cri-o/cri-o/blob/f954a17e505f8931e91004403b5f5eac71ab6085/docs/crio.conf.5.md#L131"},
	{Path: "/etc/crio/auth", Why: "per-namespace registry auth files <ns>-<sha>.json written for pulls", Source: "cri-o/cri-o@v1.34.11:vendor/github.com/cri-o/crio-credential-provider/pkg/config/config.go#9; pkg/config/config.go#583-598"},
	{Path: "/run/credentials", Why: "per-unit credential ramfs /run/credentials/<unit>/: decrypted secrets handed to services", Source: "https://github.com/systemd/systemd src/shared/mount-setup.c mkdir_label(\"/run/credentials\") (index id 108442381); https://man7.org/linux/man-pages/man1/systemd-creds.1.html"},
	{Path: "/var/lib/systemd/credential.secret", Why: "host key that decrypts every LoadCredentialEncrypted= blob when no TPM is used", Source: "https://man.archlinux.org/man/systemd-creds.1.ar.txt (setup: /var/lib/systemd/credential.secret)"},
	{Path: "/etc/credstore", Why: "credentials looked up by name", Source: "https://man7.org/linux/man-pages/man5/systemd.exec.5.html (unverified)"},
	{Path: "/etc/credstore.encrypted", Why: "systemd's encrypted credential store", Source: "systemd.exec(5) (LoadCredentialEncrypted=) (unverified)"},
	{Path: "/run/credstore", Why: "runtime credential store", Source: "https://man7.org/linux/man-pages/man5/systemd.exec.5.html (unverified)"},
	{Path: "/etc/ssh/ssh_host_rsa_key", Why: "sshd's host private key", Source: "sshd(8)"},
	{Path: "/etc/ssh/ssh_host_ecdsa_key", Why: "sshd's host private key", Source: "sshd(8)"},
	{Path: "/etc/ssh/ssh_host_ed25519_key", Why: "host private keys (also ssh_host_rsa_key, ssh_host_ecdsa_key): impersonate the node to admins", Source: "sshd(8) FILES (unverified)"},
	{Path: "/etc/ssh/ssh_host_dsa_key", Why: "sshd's host private key", Source: "sshd(8)"},
	{Path: "/etc/ssl/private", Why: "private keys (group ssl-cert)", Source: "Debian ssl-cert package (unverified)"},
	{Path: "/etc/pki/tls/private", Why: "private keys", Source: "RHEL openssl layout (unverified)"},
	{Path: "/etc/security/opasswd", Why: "previous password hashes", Source: "pam_pwhistory(8) (unverified)"},
	{Path: "/run/cloud-init", Why: "instance-data-sensitive.json and combined-cloud-config.json (root-only, unredacted user-data: kubeadm join tokens, certificate keys); cloud.cfg written by ds-identify is trusted", Source: "canonical/cloud-init doc/rtd instance-data docs (index id 567685836): instance-data-sensitive.json root-readable unredacted; /var/lib/cloud/instance/user-data.txt root-readable sensitive raw userdata"},
	{Path: "/var/lib/cloud", Why: "instance/user-data.txt and vendor-data.txt hold raw user data: CAPI kubeadm bootstrap puts the join token and, for control planes, the PKI; covered for writes only", Source: "canonical/cloud-init doc/rtd instance-data docs (index id 567685836): instance-data-sensitive.json root-readable unredacted; /var/lib/cloud/instance/user-data.txt root-readable sensitive raw userdata"},
	{Path: "/var/lib/amazon/ssm", Why: "Vault/Store/RegistrationKey and InstanceFingerprint (hybrid activation identity), ipc channels, command documents run as root", Source: "aws/amazon-ssm-agent registration state manifest (index id 27638474190): /var/lib/amazon/ssm/Vault/Store/RegistrationKey"},
	{Path: "/run/google-mds-mtls", Why: "client.key for mTLS to the metadata server (decrypted via vTPM)", Source: "https://github.com/GoogleCloudPlatform/guest-agent/blob/df9d20376449c38ed4ebb1a93c0b029f09171b71/google_guest_agent/agentcrypto/mtls_mds_linux.go#L19"},
	{Path: "/dev/pts", Why: "every terminal session on the node (ssh logins, consoles): a process that opens one reads what the admin types, passwords included, and types into the session; a read-only mount does not stop I/O on a device node, and the runtime's device rules let every container open them (char 136:*)", Source: "opencontainers/runc libcontainer/specconv/spec_linux.go AllowedDevices (\"/dev/pts/ - pts namespaces are coming soon\": 136:* rwm, appended to every container's rules); Linux fs/namei.c sb_permission (EROFS only for regular files, directories and symlinks)"},
	{Path: "/usr/share/oem", Why: "Flatcar's OEM partition (mounted here, or a link to /oem on newer releases; a hostPath is resolved on the host): config.ign, the node's Ignition config, which provisioners fill with the node's join credentials", Source: "https://github.com/flatcar/Flatcar/issues/766 (\"The OEM partition is mounted under /usr/share/oem/\", later /oem with a compatibility symlink); flatcar/init bin/flatcar-install write_ignition (copies the Ignition config to the OEM partition's config.ign); kubermatic/machine-controller writes bootstrap-kubelet.conf into /usr/share/oem/config.ign"},
	{Path: "/var/lib/ignition", Why: "user.ign cached Ignition config (may embed pull secrets, keys)", Source: "third-party path list (index id 66529566527) names /var/lib/ignition/user.ign (unverified)"},
	// The kubelet's and the runtimes' state where distributions move their
	// root directories (k0s, MicroK8s): the same files as under the
	// defaults.
	{Path: "/var/lib/k0s/kubelet/pods", Why: "every pod's volumes, service-account tokens included (k0s's kubelet root)", Source: "https://docs.k0sproject.io/stable/configuration/ (dataDir /var/lib/k0s: kubelet root-dir /var/lib/k0s/kubelet, containerd root /var/lib/k0s/containerd)"},
	{Path: "/var/lib/k0s/kubelet/checkpoints", Why: "container checkpoints with their memory (k0s's kubelet root)", Source: "https://docs.k0sproject.io/stable/configuration/ (dataDir /var/lib/k0s: kubelet root-dir /var/lib/k0s/kubelet, containerd root /var/lib/k0s/containerd)"},
	{Path: "/var/lib/k0s/containerd", Why: "containerd's images, snapshots and metadata with every container's environment (k0s)", Source: "https://docs.k0sproject.io/stable/configuration/ (dataDir /var/lib/k0s: kubelet root-dir /var/lib/k0s/kubelet, containerd root /var/lib/k0s/containerd)"},
	{Path: "/etc/krb5.keytab", Why: "the host's Kerberos keys", Source: "krb5.conf(5) (default_keytab_name)"},
	{Path: "/etc/wireguard", Why: "WireGuard private keys", Source: "wg-quick(8)"},
	{Path: "/var/lib/tailscale", Why: "the node's Tailscale machine and node keys", Source: "tailscaled(8) (--statedir)"},
	{Path: "/etc/ceph", Why: "Ceph keyrings (client.admin among them on Rook and cephadm nodes)", Source: "https://docs.ceph.com/en/latest/rados/operations/user-management/#keyring-management"},
	{Path: "/etc/cni/net.d", Why: "where CNI add-ons drop kubeconfigs with their service-account tokens: Calico's calico-kubeconfig and calico-tls, Multus's multus.d, whereabouts.d, Istio's and Linkerd's ZZZ-*-kubeconfig", Source: "https://github.com/projectcalico/calico/blob/master/cni-plugin/pkg/install/install.go; https://github.com/k8snetworkplumbingwg/whereabouts (whereabouts.d/whereabouts.kubeconfig); https://github.com/istio/istio/blob/master/cni/pkg/install/kubeconfig.go"},
	{Path: "/etc/pki/entitlement", Why: "RHEL subscription entitlement keys (OpenShift, RHEL nodes)", Source: "https://access.redhat.com/solutions/253273 (unverified)"},
	{Path: "/etc/pki/consumer", Why: "the RHEL system's subscription identity key", Source: "subscription-manager(8) (unverified)"},
	{Path: "/mnt/stateful_partition", Why: "COS's stateful partition: /var and /home (the kubelet's keys, kube-env) are bind mounts of it", Source: "https://cloud.google.com/container-optimized-os/docs/concepts/disks-and-filesystem"},
	{Path: "/etc/docker/key.json", Why: "daemon private key", Source: "moby/moby@v20.10.24:cmd/dockerd/config.go#18, cmd/dockerd/daemon.go#410"},
}

// windowsCredentialPaths are the same on Windows nodes.
var windowsCredentialPaths = [...]Fact{
	{Path: "c:/etc/kubernetes", Why: "kubeadm's kubeconfigs and PKI on Windows nodes", Source: "https://github.com/kubernetes-sigs/sig-windows-tools"},
	{Path: "c:/var/lib/kubelet/pods", Why: "every pod's volumes, service-account tokens included", Source: "kubernetes/kubernetes:pkg/kubelet/config/defaults.go"},
	{Path: "c:/var/lib/kubelet/pki", Why: "the kubelet's client and serving keys", Source: "kubernetes/kubernetes:pkg/kubelet/config/defaults.go"},
	{Path: "c:/k", Why: "the upstream install's kubeconfig (c:/k/config), azure.json on AKS", Source: "https://github.com/kubernetes-sigs/sig-windows-tools"},
	{Path: "c:/programdata/ssh", Why: "Windows OpenSSH's host keys and administrators_authorized_keys (AKS Windows nodes run sshd)", Source: "https://learn.microsoft.com/windows-server/administration/openssh/openssh_server_configuration"},
	{Path: "c:/users", Why: "users' profiles: .ssh keys, .kube configs, cloud CLI credentials", Source: "https://learn.microsoft.com/windows-server/administration/openssh/openssh_keymanagement"},
	{Path: "c:/etc/rancher", Why: "RKE2's Windows agent configuration with the join token", Source: "https://docs.rke2.io/install/windows_airgap (C:\\etc\\rancher\\rke2\\config.yaml)"},
	{Path: "c:/programdata/containerd/root", Why: "other containers' layers and specs; root/opt/bin is searched first for shims", Source: "containerd/containerd@v2.2.7:defaults/defaults_windows.go#27, plugins/services/opt/path_windows.go#25"},
	{Path: "c:/programdata/containerd/state", Why: "bundle specs of running containers", Source: "containerd/containerd@v2.2.7:defaults/defaults_windows.go#30"},
	{Path: "c:/programdata/containerd/certs.d", Why: "hosts.toml with mirrors, headers, client keys", Source: "Azure/AgentBaker@06836ee:staging/cse/windows/containerdfunc.ps1 (c:\\programdata\\containerd\\certs.d\\docker.io\\hosts.toml)"},
	{Path: "c:/programdata/docker", Why: "every container's env and config; daemon config", Source: "moby/moby@docker-v29.7.2:daemon/config/config_windows.go#70-71, daemon/command/daemon.go#667, pkg/plugins/discovery_windows.go"},
	{Path: "c:/var/lib/kubelet/etc/kubernetes/pki", Why: "a path inside the kubelet root that is a symlink to the cluster pki dir", Source: "kubernetes-sigs/sig-windows-tools@401ee6f:hostprocess/PrepareNode.ps1#65-68"},
	{Path: "c:/azuredata", Why: "CustomData.bin is the node provisioning payload (bootstrap token / SP secret / certs); the CSE scripts are re-run by node-reset and re-provisioning", Source: "Azure/AgentBaker@06836ee:parts/windows/csecmd.ps1#2-18; parts/windows/kuberneteswindowssetup.ps1.template#245-267"},
	{Path: "c:/programdata/kubernetes", Why: "node kubeconfig (aws-iam-authenticator exec) and kubelet config", Source: "awslabs/amazon-eks-ami@81fec2e:log-collector-script/windows/eks-log-collector.ps1#309-310"},
	{Path: "c:/windows/system32/config", Why: "local account hashes and LSA secrets (service account passwords, machine account)", Source: "unverified (Windows internals; no upstream k8s source) (unverified)"},
}

// genericAncestors contain credentials but are what monitoring and security
// agents mount read-only to see the node: a mount of one of them is left to
// credential-ancestor-read, which warns when the container may run as root.
var genericAncestors = [...]string{"/", "/dev", "/etc", "/var", "/var/lib", "c:", "c:/etc", "c:/var", "c:/var/lib"}

func isGenericAncestor(p string) bool {
	for _, g := range genericAncestors {
		if p == g {
			return true
		}
	}
	return false
}

// DefaultCredentialPaths returns the built-in list (a copy).
func DefaultCredentialPaths() []string { return factPaths(defaultCredentialPaths[:]) }

// credentialPaths is the list both credential rules use.
func credentialPaths() pathList {
	return newFactList(defaultCredentialPaths[:], windowsCredentialPaths[:])
}

// credentialRead forbids any mount, read-only or not, of a credential path,
// of anything inside one, or of a directory containing one that is not a
// generic ancestor (/var/lib/kubelet contains pods/ and pki/). With a
// subPathExpr known only on the node, a generic ancestor counts too: the
// expression can land on the credentials.
type credentialRead struct{ paths pathList }

func defineCredentialRead() Definition {
	return Definition{
		Meta: Meta{
			ID:           "credential-read",
			Default:      config.Enforce,
			Summary:      "any mount, read-only included, of a path holding node or cluster credentials, of anything inside one, or of a directory containing one other than `/`, `/etc`, `/var`, `/var/lib` (those warn, see `credential-ancestor-read`): `/etc/kubernetes`, `/var/lib/kubelet/pods`, `/var/lib/kubelet/pki`, `/var/lib/kubelet/kubeconfig`, `/var/lib/etcd`, `/root`, `/etc/rancher`, the k3s/RKE2 server directories, `/var/lib/k0s/pki`, `/etc/shadow`, `/etc/gshadow`, and on Windows `C:\\etc\\kubernetes`, the kubelet's `pods` and `pki`, `C:\\k`. No default toleration is injected into a DaemonSet this rule finds something in.",
			Why:          "a read-only mount still hands out the cluster's and the node's keys and every pod's service-account tokens",
			Reads:        []string{"spec.template.spec.volumes[*].hostPath", "spec.template.spec.*containers[*].volumeMounts", "spec.template.spec.*containers[*].env"},
			Precondition: precondition.HostPath,
			Credentials:  true,
		},
		New: func(Options) Rule { return credentialRead{paths: credentialPaths()} },
	}
}

func (r credentialRead) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		rel, p, why := r.paths.find(m, func(rel relation, protected string) bool {
			return (rel != ancestor || !m.genericAncestor()) && !carvedOut(m, protected, Read) && !(rel == under && m.publicCertificate())
		})
		if rel == unrelated && (isProcFD(m.HostPath) || isFDLink(m.HostPath)) {
			rel, p, why = same, m.HostPath, "a process's open files: for self, those of the runtime that resolves the mount"
		}
		if rel == unrelated {
			continue
		}
		if why != "" {
			why = " (" + why + ")"
		}
		errs = append(errs, forbidden(m.Field(),
			m.String()+", "+rel.describe(p, "credential path")+why+
				": a read-only mount still hands it out; mount only the file the agent needs (from a Secret or a projected volume), or remove the mount", t.grant(m)))
	}
	return errs
}

// publicCertificate reports whether the mount is one certificate file, by
// the name every installer gives certificates (".crt"): the public half,
// whose key sits beside it under another name (kubeadm's ca.crt and ca.key,
// AKS's kubeletserver.crt and .key). A ".pem" may hold both halves.
func (m *HostMount) publicCertificate() bool {
	return !m.Child && !m.Opaque && strings.HasSuffix(m.effectivePath(), ".crt")
}

// carvedOut reports whether the mount lies at or below a built-in
// known-safe path that itself lies inside the dangerous path: the more
// precise knowledge wins (Docker's container logs are safe to read though
// the rest of /var/lib/docker holds other containers' files).
func carvedOut(m *HostMount, dangerous string, access Access) bool {
	for i := range knownSafePaths {
		s := &knownSafePaths[i]
		if s.Access&access != access || s.Path == dangerous || !inside(s.Path, dangerous) {
			continue
		}
		if rel := m.relate(s.Path); rel == same || rel == under {
			return true
		}
	}
	return false
}

// genericAncestor reports whether the mount reaches exactly one of the
// generic ancestors, in any reading.
func (m *HostMount) genericAncestor() bool {
	if m.Opaque || m.Child {
		// The expression can land on the credentials themselves.
		return false
	}
	if m.WindowsOnly {
		return isGenericAncestor(m.Windows)
	}
	return isGenericAncestor(m.effectivePath()) && (m.Windows == "" || isGenericAncestor(m.Windows))
}
