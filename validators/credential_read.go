package validators

import (
	"context"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// defaultCredentialPaths hold node or cluster credentials, so that even a
// read-only mount hands them out: kubeadm's /etc/kubernetes (the cluster CA
// key, admin.conf, the components' kubeconfigs, AKS's azure.json), every
// pod's service-account token and secret volumes under
// /var/lib/kubelet/pods, the kubelet's client certificate and kubeconfig,
// etcd's data (every Secret), root's home (kubeconfigs, cloud CLI
// credentials, ssh keys), k3s's admin kubeconfig in /etc/rancher, the
// k3s/RKE2 server token and TLS keys, k0s's PKI, and the password hashes.
// From a red-team pass over the v2 model: the k3s/RKE2 agent directories
// (the kubelet's client key and kubeconfigs), the kubelet's bootstrap
// kubeconfig (a token that gets node certificates signed where they are
// auto-approved), root's home on ostree systems, the Azure agent's state
// (certificates that decrypt the bootstrap secrets), Talos's machine state
// (the machine config with the cluster's tokens) and the rest of k0s's
// kubelet and etcd credentials.
var defaultCredentialPaths = [...]string{
	"/etc/kubernetes", "/var/lib/kubelet/pods", "/var/lib/kubelet/pki", "/var/lib/kubelet/kubeconfig",
	"/var/lib/etcd", "/root", "/etc/rancher", "/var/lib/rancher/k3s/server", "/var/lib/rancher/rke2/server",
	"/var/lib/k0s/pki", "/etc/shadow", "/etc/gshadow",
	"/var/lib/rancher/k3s/agent", "/var/lib/rancher/rke2/agent", "/var/lib/kubelet/bootstrap-kubeconfig",
	"/var/roothome", "/var/lib/waagent", "/system/state", "/var/lib/k0s/kubelet.conf",
	"/var/lib/k0s/kubelet-bootstrap.conf", "/var/lib/k0s/kubelet/pki", "/var/lib/k0s/etcd",
}

// windowsCredentialPaths are the same on Windows nodes: kubeadm's
// C:\etc\kubernetes, the kubelet's pods and pki, and C:\k (which holds the
// kubeconfig in the upstream install).
var windowsCredentialPaths = [...]string{
	"c:/etc/kubernetes", "c:/var/lib/kubelet/pods", "c:/var/lib/kubelet/pki", "c:/k",
}

// genericAncestors contain credentials but are what monitoring and security
// agents mount read-only to see the node: a mount of one of them is left to
// credential-ancestor-read, which warns when the container may run as root.
var genericAncestors = [...]string{"/", "/etc", "/var", "/var/lib", "c:", "c:/etc", "c:/var", "c:/var/lib"}

func isGenericAncestor(p string) bool {
	for _, g := range genericAncestors {
		if p == g {
			return true
		}
	}
	return false
}

// DefaultCredentialPaths returns the built-in list (a copy).
func DefaultCredentialPaths() []string { return append([]string(nil), defaultCredentialPaths[:]...) }

// credentialPaths is the list both credential rules use.
func credentialPaths() pathList {
	return newPathList(defaultCredentialPaths[:], windowsCredentialPaths[:])
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
		rel, p := r.paths.matchWhere(m, func(rel relation, _ string) bool {
			return rel != ancestor || m.Opaque || !m.genericAncestor()
		})
		if rel == unrelated {
			continue
		}
		errs = append(errs, forbidden(m.Field(),
			m.String()+", "+rel.describe(p, "credential path")+
				": a read-only mount still hands out the cluster's and the node's keys and every pod's service-account tokens; mount only the file the agent needs (from a Secret or a projected volume), or remove the mount", m.key()))
	}
	return errs
}

// genericAncestor reports whether the mount reaches exactly one of the
// generic ancestors, in any reading.
func (m *HostMount) genericAncestor() bool {
	if m.WindowsOnly {
		return isGenericAncestor(m.Windows)
	}
	return isGenericAncestor(m.effectivePath()) && (m.Windows == "" || isGenericAncestor(m.Windows))
}

// mayRunAsRoot reports whether a container may run as uid 0: neither it nor
// the pod sets runAsNonRoot: true or a non-zero runAsUser (the container's
// settings override the pod's).
func mayRunAsRoot(pod *corev1.PodSecurityContext, c *corev1.SecurityContext) bool {
	var nonRoot *bool
	var user, group *int64
	if pod != nil {
		nonRoot, user, group = pod.RunAsNonRoot, pod.RunAsUser, pod.RunAsGroup
		// Group 0 reads and connects to what root's group may: the
		// runtime sockets are root:root 0660.
		if (pod.FSGroup != nil && *pod.FSGroup == 0) || slices.Contains(pod.SupplementalGroups, 0) {
			return true
		}
	}
	if c != nil {
		if c.RunAsNonRoot != nil {
			nonRoot = c.RunAsNonRoot
		}
		if c.RunAsUser != nil {
			user = c.RunAsUser
		}
		if c.RunAsGroup != nil {
			group = c.RunAsGroup
		}
	}
	if group != nil && *group == 0 {
		// runAsNonRoot checks the uid only.
		return true
	}
	if nonRoot != nil && *nonRoot {
		return false
	}
	// Without a runAsGroup a non-root uid gets the group the image gives
	// it (the node-exporter image: nobody, 65534): judged by the uid.
	return user == nil || *user == 0
}
