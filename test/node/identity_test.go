package node

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/daemonguard/daemonguard/test/internal/node"
	"github.com/daemonguard/daemonguard/test/internal/node/proberesult"
)

// The identity facts the access model relies on, shown on containerd 1.6
// and runc: who a container's process is, and what that identity can open
// on the node through a read-only hostPath. Each pod is a plain pod (no
// DaemonSet, so daemonguard does not review it): these are facts about the
// node, not about the rules.

// identityNamespace holds the identity tests' pods.
const identityNamespace = "identity"

// rootOnlyMounts mounts the directories of the root-only file and socket
// read-only at /h/lib and /h/run.
func rootOnlyMounts(p *corev1.Pod) {
	hostPathVolume("lib", rootOnlyDir, "/h/lib", true, corev1.HostPathDirectory)(p)
	hostPathVolume("run", "/run/daemonguard-root-only", "/h/run", true, corev1.HostPathDirectory)(p)
}

const rootOnlySteps = `[["connect","/h/run/api.sock"],["read","/h/lib/secret"]]`

func securityContext(edit func(*corev1.SecurityContext)) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		c := &p.Spec.Containers[0]
		if c.SecurityContext == nil {
			c.SecurityContext = &corev1.SecurityContext{}
		}
		edit(c.SecurityContext)
	}
}

func asUser(uid int64, gid *int64) func(*corev1.SecurityContext) {
	return func(sc *corev1.SecurityContext) {
		sc.RunAsUser, sc.RunAsGroup = &uid, gid
	}
}

// wantSteps asserts each step's outcome: "ok", or the errno it failed with.
func wantSteps(t *testing.T, r *proberesult.Result, want ...string) {
	t.Helper()
	if r == nil {
		t.Fatal("the pod never ran")
	}
	for i, w := range want {
		if i >= len(r.Steps) {
			t.Fatalf("no step %d", i)
		}
		s := r.Steps[i]
		got := "ok"
		if !s.OK {
			got = s.Errno
			if got == "" {
				got = s.Err
			}
		}
		if got != w {
			t.Errorf("step %d %v: %s (%s), want %s", i, s.Op, got, s.Err, w)
		}
	}
}

func TestIdentity(t *testing.T) {
	createNamespace(t, identityNamespace)
	nobody := int64(65534)

	// (1) uid/gid 65534, no added capabilities, allowPrivilegeEscalation
	// false: the read-only hostPaths of a root:root 0660 socket and a root
	// 0600 file are of no use.
	t.Run("nonroot-cannot-use-root-only-paths", func(t *testing.T) {
		_, r := runPod(t, probePod(identityNamespace, "nonroot", rootOnlySteps, rootOnlyMounts,
			securityContext(asUser(nobody, &nobody)), securityContext(func(sc *corev1.SecurityContext) { sc.AllowPrivilegeEscalation = ptrTo(false) })))
		wantSteps(t, r, "EACCES", "EACCES")
		if r.Identity.UID != 65534 || r.Identity.EUID != 65534 || r.Identity.GID != 65534 || r.Identity.CapEff != "0000000000000000" || r.Identity.NoNewPrivs != "1" {
			t.Errorf("identity %+v, want uid/euid/gid 65534, no effective capabilities, no_new_privs", r.Identity)
		}
	})

	// (2) the same uid without allowPrivilegeEscalation: false, running a
	// setuid-root program of its image: euid 0 with the runtime's default
	// capabilities, and both open.
	t.Run("setuid-image-escalates", func(t *testing.T) {
		_, r := runPod(t, probePod(identityNamespace, "setuid", rootOnlySteps, rootOnlyMounts,
			securityContext(asUser(nobody, &nobody)), func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{node.SuidProbePath} }))
		wantSteps(t, r, "ok", "ok")
		if r.Identity.UID != 65534 || r.Identity.EUID != 0 || r.Identity.CapEff == "0000000000000000" {
			t.Errorf("identity %+v, want uid 65534 with euid 0 and capabilities", r.Identity)
		}
		if !strings.Contains(r.Steps[1].Out, strings.TrimSpace(rootOnlySecret)) {
			t.Errorf("read %q, want the secret", r.Steps[1].Out)
		}
	})
	// ... and allowPrivilegeEscalation: false is what stops it.
	t.Run("setuid-image-with-no-new-privs", func(t *testing.T) {
		_, r := runPod(t, probePod(identityNamespace, "setuid-nnp", rootOnlySteps, rootOnlyMounts,
			securityContext(asUser(nobody, &nobody)), securityContext(func(sc *corev1.SecurityContext) { sc.AllowPrivilegeEscalation = ptrTo(false) }),
			func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{node.SuidProbePath} }))
		wantSteps(t, r, "EACCES", "EACCES")
		if r.Identity.EUID != 65534 {
			t.Errorf("euid %d, want 65534: no_new_privs ignores the setuid bit", r.Identity.EUID)
		}
	})

	// (3) a non-root uid adding DAC_OVERRIDE or DAC_READ_SEARCH: containerd
	// 1.6 sets no ambient capabilities, so the exec of the container's
	// program drops them; the file stays closed.
	for _, capName := range []corev1.Capability{"DAC_OVERRIDE", "DAC_READ_SEARCH"} {
		t.Run("nonroot-adds-"+string(capName), func(t *testing.T) {
			uid := int64(1000)
			_, r := runPod(t, probePod(identityNamespace, "nonroot-"+strings.ToLower(strings.ReplaceAll(string(capName), "_", "-")), rootOnlySteps, rootOnlyMounts,
				securityContext(asUser(uid, &uid)), securityContext(func(sc *corev1.SecurityContext) {
					sc.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{capName}}
				})))
			wantSteps(t, r, "EACCES", "EACCES")
			if r.Identity.CapEff != "0000000000000000" {
				t.Errorf("CapEff %s, want none effective for uid 1000 under containerd 1.6", r.Identity.CapEff)
			}
		})
	}
	// Root with every capability dropped still opens both: uid 0 owns
	// them, and the owner's permission bits need no capability.
	t.Run("root-drops-all-capabilities", func(t *testing.T) {
		_, r := runPod(t, probePod(identityNamespace, "root-no-caps", rootOnlySteps, rootOnlyMounts,
			securityContext(func(sc *corev1.SecurityContext) {
				sc.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
				sc.AllowPrivilegeEscalation = ptrTo(false)
			})))
		wantSteps(t, r, "ok", "ok")
		if r.Identity.UID != 0 || r.Identity.CapEff != "0000000000000000" {
			t.Errorf("identity %+v, want uid 0 with no effective capabilities", r.Identity)
		}
	})

	// (4) runAsUser without runAsGroup, in an image with no /etc/passwd:
	// the process runs with gid 0.
	t.Run("runAsUser-without-runAsGroup-is-gid-0", func(t *testing.T) {
		_, r := runPod(t, probePod(identityNamespace, "no-group", `[["note","id"]]`, securityContext(asUser(1000, nil))))
		if r == nil {
			t.Fatal("the pod never ran")
		}
		if r.Identity.UID != 1000 || r.Identity.GID != 0 || r.Identity.EGID != 0 {
			t.Errorf("identity %+v, want uid 1000 gid 0", r.Identity)
		}
	})

	// (5) read-only is not recursive: a tmpfs mounted inside a read-only
	// hostPath directory is writable in the container.
	t.Run("read-only-is-not-recursive", func(t *testing.T) {
		_, r := runPod(t, probePod(identityNamespace, "ro-submount", `[["write","/ro/sub/x","written"],["write","/ro/x","written"]]`,
			hostPathVolume("ro", roWithSubmount, "/ro", true, corev1.HostPathDirectory)))
		wantSteps(t, r, "ok", "EROFS")
	})
	// With recursiveReadOnly: Enabled it would be read-only all the way
	// down, but containerd 1.6 cannot: the kubelet refuses to start the
	// container rather than mount it writable.
	t.Run("recursiveReadOnly-on-containerd-1.6", func(t *testing.T) {
		p, r := runPod(t, probePod(identityNamespace, "rro", `[["write","/ro/sub/x","written"]]`,
			hostPathVolume("ro", roWithSubmount, "/ro", true, corev1.HostPathDirectory),
			func(p *corev1.Pod) {
				p.Spec.Containers[0].VolumeMounts[0].RecursiveReadOnly = ptrTo(corev1.RecursiveReadOnlyEnabled)
			}))
		if r != nil {
			t.Logf("it ran: %s", r)
			wantSteps(t, r, "EROFS")
			return
		}
		msg := describe(p)
		if !strings.Contains(strings.ToLower(msg), "recursive") {
			t.Fatalf("the pod neither ran nor says why: %s", msg)
		}
		t.Logf("not started: %s", msg)
	})

	// (6) a hostPath of a block device without privileged: the device
	// cgroup refuses the open; privileged opens it.
	loop := loopDevice()
	for _, privileged := range []bool{false, true} {
		t.Run(fmt.Sprintf("block-device-privileged-%v", privileged), func(t *testing.T) {
			if loop == "" {
				t.Skip("this machine has no loop device")
			}
			_, r := runPod(t, probePod(identityNamespace, fmt.Sprintf("device-%v", privileged), `[["open","/blockdev"]]`,
				hostPathVolume("dev", "/dev/"+strings.TrimPrefix(loop, "/dev/"), "/blockdev", true, corev1.HostPathBlockDev),
				securityContext(func(sc *corev1.SecurityContext) { sc.Privileged = ptrTo(privileged) })))
			if privileged {
				wantSteps(t, r, "ok")
			} else {
				wantSteps(t, r, "EPERM")
			}
		})
	}
}

// TestPtraceWithoutAppArmor: on a node without AppArmor (this one:
// /sys/kernel/security has no apparmor), SYS_PTRACE with hostPID reads the
// node's files through the kubelet's /proc/PID/root without Unconfined
// (hostpid-ptrace, not hostpid-ptrace-unconfined); without SYS_PTRACE it
// cannot.
func TestPtraceWithoutAppArmor(t *testing.T) {
	createNamespace(t, "ptrace")
	steps := `[["procroot-read","--config=/var/lib/kubelet/config.yaml","/etc/kubernetes/kubelet.conf"]]`
	hostPID := func(p *corev1.Pod) { p.Spec.HostPID = true }
	_, r := runPod(t, probePod("ptrace", "sys-ptrace", steps, hostPID,
		securityContext(func(sc *corev1.SecurityContext) {
			sc.Capabilities = &corev1.Capabilities{Add: []corev1.Capability{"SYS_PTRACE"}}
		})))
	wantSteps(t, r, "ok")
	if r != nil && !strings.Contains(r.Steps[0].Out, expand(t, "{sha256:/etc/kubernetes/kubelet.conf}")) {
		t.Errorf("read %q, not the node's kubelet.conf", r.Steps[0].Out)
	}
	_, r = runPod(t, probePod("ptrace", "no-sys-ptrace", steps, hostPID))
	wantSteps(t, r, "EACCES")
}
