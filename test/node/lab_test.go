package node

import (
	"encoding/json"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/daemonguard/daemonguard/test/internal/node"
)

// The threat model's lab: claims of the access model about host paths the
// node executes, shown on the node with plain pods (facts about the node,
// not about daemonguard's rules, which the attack table covers). Each case
// is a root container with a writable hostPath of the path that plants a
// file there; then any next pod makes the node run it as root, which
// leaves proof in the node's /etc. writable-sensitive-hostpath's own case,
// /opt/cni/bin run by containerd, is in the attack table.
func TestLabPathsTheNodeExecutes(t *testing.T) {
	createNamespace(t, "lab")
	staticPod, err := json.Marshal(map[string]any{
		"apiVersion": "v1", "kind": "Pod",
		"metadata": map[string]any{"name": "planted", "namespace": "lab"},
		"spec": map[string]any{
			"hostPID": true, "restartPolicy": "Never",
			"containers": []map[string]any{{
				"name": "c", "image": node.ProbeImage, "imagePullPolicy": "Never",
				"securityContext": map[string]any{"privileged": true},
				"args":            []string{`[["chroot-exec","/proc/1/root","/bin/sh","-c","id -u > /etc/daemonguard-static-pod-ran"]]`},
			}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		// dir is the node path the container mounts writable at /target.
		dir string
		// plant are the probe's steps, writing under /target.
		plant [][]string
		// ran is the node file the node's execution leaves, holding the
		// uid it ran as.
		ran string
		// cleanup are node paths removed afterwards.
		cleanup []string
	}{
		{
			// The kubelet runs any pod in its staticPodPath, with no
			// admission: here privileged, hostPID, entering the node.
			name: "kubelet-static-pod-path", dir: "/etc/kubernetes/manifests",
			plant: [][]string{{"write", "/target/planted.json", string(staticPod)}},
			ran:   "/etc/daemonguard-static-pod-ran", cleanup: []string{"/etc/kubernetes/manifests/planted.json"},
		},
		{
			// containerd puts /opt/containerd/bin first on its PATH (its
			// "opt" plugin), which its shims inherit: they run the first
			// runc found there for every container.
			name: "containerd-opt-bin", dir: "/opt/containerd/bin",
			plant: [][]string{
				{"write", "/target/runc", "#!/bin/sh\nid -u > /etc/daemonguard-opt-containerd-ran\nexec /usr/sbin/runc \"$@\"\n", "0755"},
			},
			ran: "/etc/daemonguard-opt-containerd-ran", cleanup: []string{"/opt/containerd/bin/runc"},
		},
		{
			// The kubelet's FlexVolume prober runs `DRIVER init` for every
			// driver that appears in its plugin directory.
			name: "kubelet-flexvolume-dir", dir: "/usr/libexec/kubernetes/kubelet-plugins/volume/exec",
			plant: [][]string{
				{"mkdir", "/target/daemonguard~lab"},
				{"write", "/target/daemonguard~lab/lab", "#!/bin/sh\nid -u > /etc/daemonguard-flexvolume-ran\necho '{\"status\":\"Success\",\"capabilities\":{\"attach\":false}}'\n", "0755"},
			},
			// The driver stays: the node's /usr is an overlay whose upper
			// directory is not to be changed under it; init is harmless.
			ran: "/etc/daemonguard-flexvolume-ran",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(func() {
				for _, p := range append(tc.cleanup, tc.ran) {
					_ = os.RemoveAll(nd.Path(p))
				}
			})
			steps, err := json.Marshal(tc.plant)
			if err != nil {
				t.Fatal(err)
			}
			_, r := runPod(t, probePod("lab", "plant-"+tc.name, string(steps),
				hostPathVolume("target", tc.dir, "/target", false, corev1.HostPathDirectoryOrCreate)))
			want := make([]string, len(tc.plant))
			for i := range want {
				want[i] = "ok"
			}
			wantSteps(t, r, want...)
			// Any next pod with a volume: the runtime sets up its sandbox,
			// the kubelet its volumes.
			runPod(t, probePod("lab", "next-"+tc.name, `[["note","any pod"]]`, func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
			}))
			var got []byte
			eventually(t, "the node running what was planted in "+tc.dir, func() (bool, string) {
				got, err = os.ReadFile(nd.Path(tc.ran))
				return err == nil && len(got) > 0, errString(err)
			})
			if string(got) != "0\n" {
				t.Fatalf("%s holds %q, want uid 0", tc.ran, got)
			}
			t.Logf("planted through a writable %s, run by the node as uid %s", tc.dir, got[:len(got)-1])
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
