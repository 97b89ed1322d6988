package validators

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DefaultRuntimeSockets are the container runtime sockets daemonguard knows:
// Docker, dockershim, containerd, CRI-O, cri-dockerd, and k3s/RKE2's containerd.
var DefaultRuntimeSockets = []string{
	"/run/docker.sock",
	"/run/dockershim.sock",
	"/run/containerd/containerd.sock",
	"/run/crio/crio.sock",
	"/run/cri-dockerd.sock",
	"/run/k3s/containerd/containerd.sock",
}

// containerRuntimeSocket forbids any mount, read-only or not, of a runtime
// socket or a directory holding one: connect(2) needs no write access to the
// mount, and the runtime API controls every container on the node.
//
// A mount of "/" is left to writable-sensitive-hostpath: a read-only host root
// is the node-exporter pattern, and flagging it here would deny the most
// common monitoring agent. Because /var/run is /run only where it is a
// symlink, a socket under /run also protects the /var/run spelling, so a
// mount of /var is flagged too.
type containerRuntimeSocket struct{ sockets []string }

func newContainerRuntimeSocket(sockets []string) containerRuntimeSocket {
	if sockets == nil {
		sockets = DefaultRuntimeSockets
	}
	var all []string
	for _, s := range cleanAll(sockets) {
		all = append(all, s)
		if strings.HasPrefix(s, "/run/") {
			all = append(all, "/var"+s)
		}
	}
	return containerRuntimeSocket{sockets: all}
}

func (containerRuntimeSocket) ID() string            { return "container-runtime-socket" }
func (containerRuntimeSocket) DefaultAction() Action { return Enforce }

func (r containerRuntimeSocket) Validate(t *Target) field.ErrorList {
	var errs field.ErrorList
	for i := range t.HostMounts {
		m := &t.HostMounts[i]
		if m.HostPath == "/" {
			continue
		}
		for _, s := range r.sockets {
			if rel := relate(m.HostPath, s); rel != unrelated {
				errs = append(errs, field.Forbidden(m.Field(),
					m.String()+", "+rel.describe(s, "container runtime socket")+
						"; whoever reaches it controls every container on the node, even through a read-only mount"))
				break
			}
		}
	}
	return errs
}
