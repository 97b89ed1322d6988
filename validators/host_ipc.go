package validators

import (
	"context"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// hostIPC denies a pod in the node's IPC namespace: containerd and CRI-O
// then bind-mount the host's /dev/shm into it read-write, the very mount
// writable-sensitive-hostpath denies when it is spelled as a hostPath, and
// it reaches every host process's System V shared memory, semaphores and
// message queues.
type hostIPC struct{}

func defineHostIPC() Definition {
	return Definition{
		Meta: Meta{
			ID:           "host-ipc",
			Default:      config.Enforce,
			Summary:      "`hostIPC: true`",
			Why:          "the pod gets the node's IPC namespace and its /dev/shm read-write: every host process's shared memory, semaphores and message queues",
			Reads:        []string{"spec.template.spec.hostIPC"},
			Precondition: precondition.Atom("`hostIPC`", precondition.IsTrue(precondition.Spec, "hostIPC")),
		},
		New: func(Options) Rule { return hostIPC{} },
	}
}

func (hostIPC) Validate(_ context.Context, t *Target) field.ErrorList {
	if !t.DaemonSet.Spec.Template.Spec.HostIPC {
		return nil
	}
	return field.ErrorList{forbidden(field.NewPath("spec", "template", "spec", "hostIPC"),
		"hostIPC is true: the pod shares the node's IPC namespace, and the runtime mounts the node's /dev/shm into it read-write (containerd and CRI-O do): it reaches every host process's shared memory, semaphores and message queues; drop hostIPC",
		"hostIPC")}
}
