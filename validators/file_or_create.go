package validators

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/precondition"
)

// fileOrCreate denies a hostPath volume of type FileOrCreate at a path not
// known safe: on a node where the file is missing, the kubelet creates it,
// empty and owned by root, before any container starts, whatever the
// containers' users and readOnly say. Node software acts on such files by
// their presence alone: an empty unit file in /etc/systemd/system masks the
// packaged unit, /etc/nologin locks users out, kured reboots a node that
// has /run/reboot-required.
//
// DirectoryOrCreate is not judged here: an empty root-owned directory is
// what the runtime creates for any hostPath mount whose path is missing
// (containerd's CRI WithMounts, MkdirAll 0755), whatever the type.
type fileOrCreate struct{ known *knowledge }

func defineFileOrCreate() Definition {
	return Definition{
		Meta: Meta{
			ID:      "file-or-create",
			Default: config.Enforce,
			Summary: "a hostPath volume of `type: FileOrCreate` at a path that is not known safe (the built-in list, or the policy's `validation.allowedHostPaths`), whatever the containers' users and `readOnly`",
			Why:     "where the file is missing the kubelet creates it as root, and node software acts on a file's presence alone: an empty unit file masks a service (the kubelet's own), /etc/nologin locks users out, /run/reboot-required makes kured reboot the node",
			Reads:   []string{"spec.template.spec.volumes[*].hostPath"},
			Precondition: precondition.Atom("a FileOrCreate hostPath volume",
				precondition.AnyIn(precondition.Spec, "volumes", "v", "has(v.hostPath) && has(v.hostPath.type) && v.hostPath.type == 'FileOrCreate'")),
		},
		New: func(o Options) Rule { return fileOrCreate{known: newKnowledge(o)} },
	}
}

func (r fileOrCreate) Validate(_ context.Context, t *Target) field.ErrorList {
	var errs field.ErrorList
	windowsPod := podOnWindows(&t.DaemonSet.Spec.Template.Spec)
	for i, v := range t.DaemonSet.Spec.Template.Spec.Volumes {
		if v.HostPath == nil || v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathFileOrCreate {
			continue
		}
		// The kubelet creates the volume's own path, not a mount's subPath.
		// A path known safe to read is enough: what is known safe there is
		// node content nothing acts on by its presence.
		created := HostMount{VolumeIndex: i, Volume: v.Name, VolumePath: v.HostPath.Path, Type: *v.HostPath.Type, Unmounted: true}
		created.setPaths(v.HostPath.Path, windowsPod)
		if r.known.safe(&created, Read) {
			continue
		}
		errs = append(errs, forbidden(field.NewPath("spec", "template", "spec", "volumes").Index(i).Child("hostPath", "type"),
			"volume "+quote(v.Name)+" is a hostPath of type FileOrCreate at "+quote(created.HostPath)+
				", a path daemonguard does not know to be safe: on every node where it is missing, the kubelet creates it as an empty file owned by root, whatever the containers' users and readOnly say, and node software acts on such a file by its presence alone (an empty unit file in /etc/systemd/system masks the service, /etc/nologin locks users out, /run/reboot-required makes kured reboot the node). Use type: File, so that the pod waits for the file instead; or, if nothing on your nodes reads that path, an admin adds "+created.allowLine(),
			"FileOrCreate "+quote(created.HostPath)))
	}
	return errs
}
