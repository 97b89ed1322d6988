package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/daemonguard/daemonguard/internal/config"
	"github.com/daemonguard/daemonguard/internal/policy"
	"github.com/daemonguard/daemonguard/internal/review"
	"github.com/daemonguard/daemonguard/test/internal/controlplane"
	"github.com/daemonguard/daemonguard/test/internal/node"
	"github.com/daemonguard/daemonguard/validators"
)

// attack is one rule's proof on the node: its canonical attack DaemonSet
// (testdata/attacks/FILE, with the probe's steps in its args), what the
// probe must report, and what must then be true on the node.
type attack struct {
	rule string
	// file is the attack DaemonSet under testdata/attacks.
	file string
	// want is the evidence in the probe reports.
	want []evidence
	// before runs before the exempt DaemonSet is created (a victim pod,
	// cleanups); after once the reports are in: evidence on the node.
	before, after func(t *testing.T, ds *appsv1.DaemonSet)
	// refused: the API server itself refuses the DaemonSet, exempt or not
	// (a substring of its error), so the harm cannot be shown; why says
	// what that means for the rule.
	refused string
	// notShown is why the harm cannot be shown on this node at all (no
	// file then), and what the rule should be.
	notShown string
}

// evidence is one step of one container's probe report: whether it
// succeeded and what its output contains. Placeholders in contains:
// {sha256:NODE-PATH} is the sha256 of that file on the node,
// {containerd-version} the version `containerd --version` prints.
type evidence struct {
	container string
	step      int
	ok        bool
	contains  []string
}

// attacks: one entry per enforced rule (TestEveryEnforcedRuleHasAnAttack),
// and entries for rules that only warn where the node shows their harm. A
// new rule is one entry here and, usually, one DaemonSet in
// testdata/attacks.
func attacks() []attack {
	kubeletConf := "{sha256:/etc/kubernetes/kubelet.conf}"
	return []attack{
		{
			rule: "hostpid-writable-hostpath", file: "hostpid-writable-hostpath.yaml",
			before: startVictim,
			want: []evidence{
				{container: "attacker", step: 0, ok: true, contains: []string{"--config=/var/lib/kubelet/config.yaml", "containerd --config"}},
				{container: "attacker", step: 1, ok: true, contains: []string{"wrote /proc/"}},
				{container: "attacker", step: 2, ok: true},
			},
			after: func(t *testing.T, ds *appsv1.DaemonSet) {
				victimSaw(t, ds.Namespace, "written through /proc/PID/root")
				nodeFile(t, "/var/lib/daemonguard-agent/planted", "planted by hostpid-writable")
			},
		},
		{
			rule: "hostpid-privileged", file: "hostpid-privileged.yaml",
			want: []evidence{
				{container: "attacker", step: 0, ok: true, contains: []string{"--config=/var/lib/kubelet/config.yaml"}},
				{container: "attacker", step: 1, ok: true, contains: []string{"dg-node\n0\n"}},
			},
			after: func(t *testing.T, _ *appsv1.DaemonSet) {
				nodeFile(t, "/etc/daemonguard-hostpid-privileged", "owned\n")
			},
		},
		{
			rule: "writable-sensitive-hostpath", file: "writable-sensitive-hostpath.yaml",
			before: func(t *testing.T, _ *appsv1.DaemonSet) {
				t.Cleanup(func() {
					// Put the node's real loopback plugin back.
					real := nd.Path("/opt/cni/bin/loopback.daemonguard-real")
					if _, err := os.Stat(real); err == nil {
						if err := os.Rename(real, nd.Path("/opt/cni/bin/loopback")); err != nil {
							t.Errorf("restoring the loopback plugin: %v", err)
						}
					}
					_ = os.Remove(nd.Path("/etc/daemonguard-cni-ran"))
				})
			},
			want: []evidence{
				{container: "attacker", step: 0, ok: true},
				{container: "attacker", step: 1, ok: true},
			},
			after: func(t *testing.T, ds *appsv1.DaemonSet) {
				// Any next pod: its sandbox's network is set up by the
				// runtime, which runs the planted plugin as root.
				runPod(t, probePod(ds.Namespace, "next-pod", `[["note","any pod"]]`))
				nodeFile(t, "/etc/daemonguard-cni-ran", "0\n")
			},
		},
		{
			rule: "container-runtime-socket", file: "container-runtime-socket.yaml",
			want: []evidence{{container: "attacker", step: 0, ok: true, contains: []string{"1={containerd-version}"}}},
		},
		{
			rule: "host-control-socket", file: "host-control-socket.yaml",
			want: []evidence{
				{container: "attacker", step: 0, ok: true, contains: []string{"kubelet.sock"}},
				{container: "attacker", step: 1, ok: true, contains: []string{"registered daemonguard.io/evil"}},
			},
			after: devicePluginMounts,
		},
		{
			rule: "credential-read", file: "credential-read.yaml",
			want: []evidence{
				{container: "attacker", step: 0, ok: true, contains: []string{kubeletConf}},
				{container: "attacker", step: 1, ok: true, contains: []string{"200 OK", `"kind":"SecretList"`}},
			},
		},
		{
			rule: "writable-pod-logs", file: "writable-pod-logs.yaml",
			after: podLogsLeak,
		},
		{
			rule: "nested-hostpath", file: "nested-hostpath.yaml",
			want: []evidence{
				{container: "swap", step: 0, ok: true},
				{container: "attacker", step: 0, ok: true, contains: []string{kubeletConf}},
			},
		},
		{
			rule: "bidirectional-mount-propagation", file: "bidirectional-mount-propagation.yaml",
			want: []evidence{
				{container: "attacker", step: 0, ok: true},
				{container: "attacker", step: 1, ok: true},
			},
			after: func(t *testing.T, _ *appsv1.DaemonSet) {
				info, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", nd.InitPid()))
				if err != nil {
					t.Fatal(err)
				}
				found := ""
				for _, line := range strings.Split(string(info), "\n") {
					if strings.Contains(line, " /mnt/daemonguard-shared/planted ") {
						found = line
					}
				}
				if !strings.Contains(found, " - tmpfs ") {
					t.Fatalf("the container's tmpfs is not in the node's mount table (line %q)", found)
				}
				t.Logf("node mount table: %s", found)
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/mnt/daemonguard-shared/planted/file", nd.InitPid()))
				if err != nil || string(b) != "mounted from a container" {
					t.Fatalf("the node reads %q (%v) in the container's mount", b, err)
				}
			},
		},
		{
			rule: "hostpid-ptrace-unconfined", file: "hostpid-ptrace-unconfined.yaml",
			want: []evidence{{container: "attacker", step: 0, ok: true, contains: []string{kubeletConf}}},
		},
		{
			rule: "unknown-writable-hostpath", file: "unknown-writable-hostpath.yaml",
			want:  []evidence{{container: "attacker", step: 0, ok: true, contains: []string{"urwxr-xr-x"}}},
			after: setuidPlanted,
		},
		{
			rule: "file-or-create", file: "file-or-create.yaml",
			before: func(t *testing.T, _ *appsv1.DaemonSet) {
				_ = os.Remove(nd.Path("/etc/nologin"))
				t.Cleanup(func() { _ = os.Remove(nd.Path("/etc/nologin")) })
			},
			want:  []evidence{{container: "attacker", step: 0, ok: true, contains: []string{"/host/nologin mounted=true ro=true"}}},
			after: fileCreatedAsRoot,
		},
		{
			rule: "unknown-socket", file: "unknown-socket.yaml",
			want: []evidence{{container: "attacker", step: 0, ok: true, contains: []string{"hello from a root-only socket"}}},
		},
		{
			rule: "kernel-capability", file: "kernel-capability.yaml",
			before: func(t *testing.T, ds *appsv1.DaemonSet) {
				// The key's path on the filesystem the node's root lives
				// on: the machine's, since the scratch root is a directory
				// of it.
				c := &ds.Spec.Template.Spec.Containers[0]
				c.Env = append(c.Env, corev1.EnvVar{Name: "KEY_ON_FILESYSTEM", Value: nd.Path(nodeSecretKey)})
			},
			want: []evidence{{container: "attacker", step: 0, ok: true, contains: []string{"{sha256:" + nodeSecretKey + "}"}}},
		},
		{
			rule: "host-ipc", file: "host-ipc.yaml",
			before: func(t *testing.T, _ *appsv1.DaemonSet) {
				// A node process's shared memory (the node's /dev/shm is
				// a tmpfs in its own mount namespace).
				shm := fmt.Sprintf("/proc/%d/root/dev/shm/", nd.InitPid())
				if err := os.WriteFile(shm+"daemonguard-node-shm", []byte("node shared memory"), 0o600); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					_ = os.Remove(shm + "daemonguard-node-shm")
					_ = os.Remove(shm + "daemonguard-from-pod")
				})
			},
			want: []evidence{
				{container: "attacker", step: 0, ok: true, contains: []string{"node shared memory"}},
				{container: "attacker", step: 1, ok: true},
			},
			after: func(t *testing.T, _ *appsv1.DaemonSet) {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/dev/shm/daemonguard-from-pod", nd.InitPid()))
				if err != nil || string(b) != "written by a pod" {
					t.Fatalf("the node's /dev/shm holds %q (%v)", b, err)
				}
				t.Logf("the node's /dev/shm holds %q", b)
			},
		},
		{
			// Not shown: the kubelet 1.36+ has the gitRepo plugin locked
			// off; the test shows it refusing the volume.
			rule: "gitrepo-volume", file: "gitrepo-volume.yaml",
			after: gitRepoRefused,
		},
		// Rules that only warn by default, where the node shows the same
		// harm as an enforced one: admitted by the default policy (with
		// the warning), they run in the attack namespace.
		{
			rule: "hostpid-ptrace", file: "hostpid-ptrace.yaml",
			want: []evidence{{container: "attacker", step: 0, ok: true, contains: []string{kubeletConf}}},
		},
		{
			rule: "writable-var-log", file: "writable-var-log.yaml",
			after: podLogsLeak,
		},
		{
			rule: "hostpid-shared-uid", file: "hostpid-shared-uid.yaml",
			before: startNobodyVictim,
			want:   []evidence{{container: "attacker", step: 0, ok: true, contains: []string{victimSecret}}},
		},
		{
			rule: "credential-ancestor-read", file: "credential-ancestor-read.yaml",
			want: []evidence{
				{container: "attacker", step: 0, ok: true, contains: []string{kubeletConf}},
				{container: "attacker", step: 1, ok: true, contains: []string{"1={containerd-version}"}},
			},
		},
		{
			rule: "unmasked-procmount", file: "unmasked-procmount.yaml",
			refused: "procMount",
		},
		{
			rule: "hostport-surge", file: "hostport-surge.yaml",
			after: surgeStalls,
		},
	}
}

// exemptNamespace is where an attack DaemonSet is admitted: the suite's
// policy exempts it from exactly the rules that deny it.
func exemptNamespace(rule string) string { return "exempt-" + rule }

// TestAttacks: each attack DaemonSet is denied by the default policy, then
// admitted by its exemption and runs on the node, where the probe shows
// the harm.
func TestAttacks(t *testing.T) {
	for _, a := range attacks() {
		t.Run(a.rule, func(t *testing.T) {
			if a.file == "" {
				t.Skipf("not shown on this node: %s", a.notShown)
			}
			ctx := context.Background()
			path := filepath.Join("testdata", "attacks", a.file)

			if validators.Defaults()[a.rule] == config.Warn {
				// Admitted by the default policy, with the rule's warning
				// (exempt from other rules that deny it, if any).
				ds := readDaemonSet(t, path)
				ds.Namespace = attackNamespace
				if denied, err := deniedByDefault(a); err != nil {
					t.Fatal(err)
				} else if len(denied) > 0 {
					t.Logf("also denied by %v: run exempt from those", denied)
					ds.Namespace = exemptNamespace(a.rule)
					createNamespace(t, ds.Namespace)
				}
				if a.before != nil {
					a.before(t, ds)
				}
				warnings := createWithWarnings(t, ds)
				if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "["+a.rule+"]") }) {
					t.Fatalf("admitted with warnings %q, none by [%s]", warnings, a.rule)
				}
				t.Cleanup(func() { _ = nd.Client.Delete(context.Background(), ds) })
				t.Logf("admitted by the default policy with: %s", strings.Join(warnings, "; "))
				checkEvidence(t, a, ds)
				return
			}
			// Denied by the default policy.
			ds := readDaemonSet(t, path)
			ds.Namespace = attackNamespace
			err := nd.Client.Create(ctx, ds)
			if err == nil {
				t.Fatalf("%s was admitted by the default policy", a.file)
			}
			if a.refused != "" {
				if !strings.Contains(err.Error(), a.refused) {
					t.Fatalf("creating %s: %v; want the API server's refusal (%q)", a.file, err, a.refused)
				}
			} else if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "["+a.rule+"]") {
				t.Fatalf("creating %s: %v; want a denial by [%s]", a.file, err, a.rule)
			}
			t.Logf("denied by the default policy: %v", err)

			// Admitted by an exemption, it runs on the node.
			ns := exemptNamespace(a.rule)
			createNamespace(t, ns)
			ds = readDaemonSet(t, path)
			ds.Namespace = ns
			if a.before != nil {
				a.before(t, ds)
			}
			err = nd.Client.Create(ctx, ds)
			if a.refused != "" {
				if err == nil || !strings.Contains(err.Error(), a.refused) {
					t.Fatalf("exempt, %s: %v; want the API server's own refusal (%q)", a.file, err, a.refused)
				}
				t.Logf("exempt from daemonguard, the API server still refuses it: %v", err)
				return
			}
			if err != nil {
				t.Fatalf("exempt, %s is still refused: %v", a.file, err)
			}
			checkEvidence(t, a, ds)
		})
	}
}

// checkEvidence waits for the reports of the attack's containers, checks
// them, and runs its node-side checks.
func checkEvidence(t *testing.T, a attack, ds *appsv1.DaemonSet) {
	t.Helper()
	reported := map[string]bool{}
	for _, w := range a.want {
		if reported[w.container] {
			continue
		}
		reported[w.container] = true
		_, r := resultOf(t, ds, w.container)
		for _, w2 := range a.want {
			if w2.container != w.container {
				continue
			}
			if w2.step >= len(r.Steps) {
				t.Errorf("%s: no step %d in the report", w2.container, w2.step)
				continue
			}
			s := r.Steps[w2.step]
			if s.OK != w2.ok {
				t.Errorf("%s step %d %v: ok=%v (err %q), want ok=%v", w2.container, w2.step, s.Op, s.OK, s.Err, w2.ok)
			}
			for _, c := range w2.contains {
				c = expand(t, c)
				if !strings.Contains(s.Out, c) {
					t.Errorf("%s step %d %v: output %q lacks %q", w2.container, w2.step, s.Op, s.Out, c)
				}
			}
		}
	}
	if a.after != nil && !t.Failed() {
		a.after(t, ds)
	}
}

// createWithWarnings creates obj and returns the warnings the API server
// sent with its answer (daemonguard's findings with action warn).
func createWithWarnings(t *testing.T, obj client.Object) []string {
	t.Helper()
	cfg := rest.CopyConfig(nd.Config)
	warnings := &controlplane.WarningRecorder{}
	cfg.WarningHandler = warnings
	c, err := client.New(cfg, client.Options{Scheme: nd.Client.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %s: %v", obj.GetName(), err)
	}
	return warnings.Take()
}

// TestEveryEnforcedRuleHasAnAttack: every rule the registry enforces by
// default has an entry (a DaemonSet or a written reason), every entry names
// a rule of the registry, and every attack file is used.
func TestEveryEnforcedRuleHasAnAttack(t *testing.T) {
	have := map[string]attack{}
	for _, a := range attacks() {
		if _, dup := have[a.rule]; dup {
			t.Errorf("two entries for %s", a.rule)
		}
		have[a.rule] = a
		if (a.file == "") == (a.notShown == "") {
			t.Errorf("%s: an entry has a DaemonSet file or a reason it is not shown, not both or neither", a.rule)
		}
	}
	known := map[string]bool{}
	for _, d := range validators.Registry() {
		known[d.ID] = true
		if d.Default != config.Enforce {
			continue
		}
		if _, ok := have[d.ID]; !ok {
			t.Errorf("enforced rule %s has no attack on the node: add an entry to attacks() (a DaemonSet in testdata/attacks and its evidence, or why it cannot be shown)", d.ID)
		}
	}
	used := map[string]bool{}
	for id, a := range have {
		if !known[id] {
			t.Errorf("attack entry %s names no rule of validators.Registry()", id)
		}
		used[a.file] = true
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "attacks", "*.yaml"))
	for _, f := range files {
		if !used[filepath.Base(f)] {
			t.Errorf("%s is no entry's attack", f)
		}
	}
}

// expand replaces the placeholders of an evidence string.
func expand(t *testing.T, s string) string {
	t.Helper()
	for {
		i := strings.Index(s, "{")
		j := strings.Index(s, "}")
		if i < 0 || j < i {
			return s
		}
		key := s[i+1 : j]
		var val string
		switch {
		case strings.HasPrefix(key, "sha256:"):
			b, err := os.ReadFile(nd.Path(strings.TrimPrefix(key, "sha256:")))
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			val = "sha256:" + hex.EncodeToString(sum[:])
		case key == "containerd-version":
			out, err := exec.Command("containerd", "--version").Output()
			f := strings.Fields(string(out))
			if err != nil || len(f) < 3 {
				t.Fatalf("containerd --version: %q, %v", out, err)
			}
			val = f[2]
		default:
			t.Fatalf("unknown placeholder {%s}", key)
		}
		s = s[:i] + val + s[j+1:]
	}
}

// nodeFile asserts a file on the node has this content.
func nodeFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(nd.Path(path))
	if err != nil {
		t.Fatalf("on the node: %v", err)
	}
	if string(b) != want {
		t.Fatalf("on the node, %s holds %q, want %q", path, b, want)
	}
	t.Logf("on the node, %s holds %q", path, b)
}

// victimMarker is in the victim pod's command line, for the attacker to
// find its pid.
const victimMarker = "daemonguard-victim-marker"

// startVictim runs a pod (root, default capabilities, like the attacker)
// that waits for a file to appear in its own /tmp.
func startVictim(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	runVictim(t, probePod(ds.Namespace, "victim", `[["note","`+victimMarker+`"],["wait-file","/tmp/owned","120"]]`))
}

// runVictim creates the victim pod p (runs once, no service-account token)
// and waits until it runs; the pod goes with the test.
func runVictim(t *testing.T, p *corev1.Pod) {
	t.Helper()
	p.Spec.RestartPolicy = corev1.RestartPolicyNever
	p.Spec.TerminationGracePeriodSeconds = ptrTo(int64(1))
	p.Spec.AutomountServiceAccountToken = ptrTo(false)
	p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	if err := nd.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nd.Client.Delete(context.Background(), p) })
	eventually(t, "the victim running", func() (bool, string) {
		cur := &corev1.Pod{}
		if err := nd.Client.Get(context.Background(), client.ObjectKeyFromObject(p), cur); err != nil {
			return false, err.Error()
		}
		return cur.Status.Phase == corev1.PodRunning, describe(cur)
	})
}

// victimSecret is what the nobody victim keeps in its own /tmp.
const victimSecret = "DAEMONGUARD-VICTIM-SECRET"

// startNobodyVictim runs a pod as uid and gid 65534 (kube-state-metrics'
// ids), with no capabilities, that keeps victimSecret in its own /tmp.
func startNobodyVictim(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	nobody := int64(65534)
	p := probePod(ds.Namespace, "victim", `[["note","`+victimMarker+`"],["write","/tmp/secret","`+victimSecret+`","0600"],["sleep","600"]]`,
		securityContext(asUser(nobody, &nobody)),
		securityContext(func(sc *corev1.SecurityContext) {
			sc.AllowPrivilegeEscalation = ptrTo(false)
			sc.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
		}),
		func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
		})
	runVictim(t, p)
}

// victimSaw asserts the victim found want in its /tmp/owned.
func victimSaw(t *testing.T, namespace, want string) {
	t.Helper()
	var got string
	eventually(t, "the victim's report", func() (bool, string) {
		cur := &corev1.Pod{}
		if err := nd.Client.Get(context.Background(), keyOf("victim", namespace), cur); err != nil {
			return false, err.Error()
		}
		if cur.Status.Phase != corev1.PodSucceeded {
			return false, describe(cur)
		}
		r, err := nd.ProbeResult(cur, "probe")
		if err != nil {
			return false, err.Error()
		}
		got = r.Steps[1].Out
		return true, ""
	})
	if got != want {
		t.Fatalf("the victim found %q in its own /tmp/owned, want %q", got, want)
	}
	t.Logf("the victim container found %q in its own root", got)
}

// podLogsLeak: the attacker has replaced its log file with a symlink to a
// key on the node; asking the kubelet for its logs (the endpoint
// pods/log is served from) with tailLines N returns the Nth line from the
// end of the key in the error message, so every line leaks.
func podLogsLeak(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	pod := podOf(t, ds, "running with its log file a symlink", func(p *corev1.Pod) (bool, string) {
		// The kubelet serves logs only of a container it knows to be
		// running.
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Running == nil {
			return false, describe(p)
		}
		fi, err := os.Lstat(nd.LogPath(p, "attacker"))
		if err != nil {
			return false, err.Error()
		}
		return fi.Mode()&os.ModeSymlink != 0, "log file not yet a symlink"
	})
	target, _ := os.Readlink(nd.LogPath(pod, "attacker"))
	t.Logf("the container replaced its log file with a symlink to %s", target)
	lines := strings.Split(strings.TrimSuffix(nodeSecret, "\n"), "\n")
	var leaked []string
	for n := len(lines); n >= 1; n-- {
		path := fmt.Sprintf("/containerLogs/%s/%s/attacker?tailLines=%d", pod.Namespace, pod.Name, n)
		var line string
		eventually(t, "GET "+path+" leaking a line", func() (bool, string) {
			code, body, err := nd.KubeletGet(context.Background(), path)
			if err != nil {
				return false, err.Error()
			}
			_, after, ok := strings.Cut(body, "unsupported log format: ")
			l, err := strconv.Unquote(strings.TrimSpace(after))
			if !ok || err != nil {
				return false, fmt.Sprintf("%d %q", code, body)
			}
			line = l
			return true, ""
		})
		leaked = append(leaked, strings.TrimSuffix(line, "\n"))
	}
	if !slices.Equal(leaked, lines) {
		t.Fatalf("leaked %q, the key is %q", leaked, lines)
	}
	t.Logf("the kubelet returned every line of %s through the logs endpoint: %q", nodeSecretKey, leaked)
	// Through the API server (kubectl logs) the same request needs the
	// API server to reach the kubelet, which here listens on loopback
	// only while the node's address is the machine's: say what it does.
	_, err := clientset(t).CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: "attacker", TailLines: ptrTo(int64(1))}).DoRaw(context.Background())
	t.Logf("pods/log through the API server: %v", err)
}

// setuidPlanted: the setuid-root program the attacker planted on the node
// makes a pod running as uid 65534 (allowPrivilegeEscalation unset) root:
// it reads a root-only file.
func setuidPlanted(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(nd.Path("/var/lib/daemonguard-shared/tool"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || st.Mode&syscall.S_ISUID == 0 {
		t.Fatalf("the planted program is uid %d mode %o, want setuid root", st.Uid, st.Mode)
	}
	nobody := int64(65534)
	_, r := runPod(t, probePod(ds.Namespace, "unprivileged-user", rootOnlySteps, rootOnlyMounts,
		hostPathVolume("shared", "/var/lib/daemonguard-shared", "/shared", true, corev1.HostPathDirectory),
		securityContext(asUser(nobody, &nobody)),
		func(p *corev1.Pod) { p.Spec.Containers[0].Command = []string{"/shared/tool"} }))
	wantSteps(t, r, "ok", "ok")
	if r != nil && (r.Identity.UID != 65534 || r.Identity.EUID != 0) {
		t.Fatalf("identity %+v, want uid 65534 euid 0", r.Identity)
	}
	t.Logf("a pod running as uid 65534 ran the planted program from a read-only hostPath as euid 0 and read the root-only file")
}

// fileCreatedAsRoot: the kubelet created /etc/nologin on the node, empty
// and owned by root, for a pod that runs as uid 65534.
func fileCreatedAsRoot(t *testing.T, _ *appsv1.DaemonSet) {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(nd.Path("/etc/nologin"), &st); err != nil {
		t.Fatalf("the node has no /etc/nologin: %v", err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Uid != 0 || st.Size != 0 {
		t.Fatalf("/etc/nologin on the node: mode %o uid %d size %d, want an empty regular file owned by root", st.Mode, st.Uid, st.Size)
	}
	t.Logf("the kubelet created /etc/nologin on the node (empty, uid 0, mode %o) for a pod that runs as uid 65534 with a read-only mount", st.Mode&0o7777)
}

// gitRepoRefused: the kubelet refuses to set up a gitRepo volume (the
// plugin is locked off since 1.36), so the pod never starts.
func gitRepoRefused(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	var msg string
	eventually(t, "the kubelet refusing the gitRepo volume", func() (bool, string) {
		var events corev1.EventList
		if err := nd.Client.List(context.Background(), &events, client.InNamespace(ds.Namespace)); err != nil {
			return false, err.Error()
		}
		for _, e := range events.Items {
			if strings.Contains(e.Message, "git-repo volume plugin has been disabled") {
				msg = e.Message
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events, none from the gitRepo plugin", len(events.Items))
	})
	t.Logf("not shown on kubelet 1.37: %s", msg)
}

// devicePluginMounts: the kubelet advertises the registered plugin's device
// on the Node, and mounts the host path the plugin names into a pod that
// requests one: a pod with no hostPath volume reads the kubelet's
// kubeconfig.
func devicePluginMounts(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	const resource = corev1.ResourceName("daemonguard.io/evil")
	eventually(t, "the node advertising "+string(resource), func() (bool, string) {
		var n corev1.Node
		if err := nd.Client.Get(context.Background(), keyOf(node.Name, ""), &n); err != nil {
			return false, err.Error()
		}
		q := n.Status.Allocatable[resource]
		return q.Value() == 1, fmt.Sprintf("allocatable %s: %s", resource, q.String())
	})
	victim := probePod(ds.Namespace, "requests-the-device", `[["read","/stolen/kubelet.conf"]]`, func(p *corev1.Pod) {
		p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{resource: resource1()}
	})
	if len(victim.Spec.Volumes) != 0 {
		t.Fatal("the pod must have no volumes")
	}
	_, r := runPod(t, victim)
	wantSteps(t, r, "ok")
	if r != nil && !strings.Contains(r.Steps[0].Out, expand(t, "{sha256:/etc/kubernetes/kubelet.conf}")) {
		t.Fatalf("the pod read %q, not the node's kubelet.conf", r.Steps[0].Out)
	}
	t.Logf("a pod with no volumes, requesting %s, read the node's /etc/kubernetes/kubelet.conf mounted by the kubelet at the plugin's word", resource)
}

func resource1() resource.Quantity { return resource.MustParse("1") }

// surgeStalls: a template change rolls out by surging a second pod onto
// the node, which the scheduler cannot place while the old pod holds the
// host port; the rollout makes no progress.
func surgeStalls(t *testing.T, ds *appsv1.DaemonSet) {
	t.Helper()
	ctx := context.Background()
	podOf(t, ds, "running", func(p *corev1.Pod) (bool, string) { return p.Status.Phase == corev1.PodRunning, describe(p) })
	cur := &appsv1.DaemonSet{}
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := nd.Client.Get(ctx, client.ObjectKeyFromObject(ds), cur); err != nil {
			return err
		}
		if cur.Spec.Template.Annotations == nil {
			cur.Spec.Template.Annotations = map[string]string{}
		}
		cur.Spec.Template.Annotations["daemonguard.io/rollout"] = "2"
		return nd.Client.Update(ctx, cur)
	}); err != nil {
		t.Fatal(err)
	}
	var msg string
	eventually(t, "a surge pod stuck on its port", func() (bool, string) {
		var pods corev1.PodList
		if err := nd.Client.List(ctx, &pods, client.InNamespace(ds.Namespace)); err != nil {
			return false, err.Error()
		}
		for _, p := range pods.Items {
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
					msg = c.Message
				}
			}
		}
		return strings.Contains(msg, "didn't have free ports"), fmt.Sprintf("unschedulable message %q", msg)
	})
	// What a rollout would need, several times over.
	time.Sleep(5 * time.Second)
	if err := nd.Client.Get(ctx, client.ObjectKeyFromObject(ds), cur); err != nil {
		t.Fatal(err)
	}
	if cur.Status.UpdatedNumberScheduled != 0 || cur.Status.NumberAvailable != 1 {
		t.Fatalf("updated %d, available %d: want 0 updated (stalled) and the old pod still available", cur.Status.UpdatedNumberScheduled, cur.Status.NumberAvailable)
	}
	t.Logf("rollout stalled on the real node: %s", msg)
}

// deniedByDefault are the rules that deny an attack's DaemonSet in its
// exempt namespace under the default policy, computed with the engine as
// `check` does.
func deniedByDefault(a attack) ([]string, error) {
	defaults, err := policy.New(config.Defaults(), policy.Options{})
	if err != nil {
		return nil, err
	}
	ds, err := decodeDaemonSet(filepath.Join("testdata", "attacks", a.file))
	if err != nil {
		return nil, err
	}
	ns := exemptNamespace(a.rule)
	ds.Namespace = ns
	js, err := yaml.Marshal(ds)
	if err == nil {
		js, err = yaml.YAMLToJSON(js)
	}
	if err != nil {
		return nil, err
	}
	adm, err := review.Admit(context.Background(), defaults, ns, js, nil)
	if err != nil {
		return nil, err
	}
	return adm.Validation.Verdict.DeniedRules(), nil
}

// suitePolicy is the policy the suite's webhook serves: the defaults, plus
// for each attack an exemption in its own namespace from exactly the rules
// that deny it (computed with the engine, as `check` would), plus each
// recipe of deploy/recipes.
func suitePolicy() ([]byte, error) {
	exemptions := []config.Exemption{{Namespaces: []string{"kube-system"}, Reason: "the built-in default"}}
	for _, a := range attacks() {
		if a.file == "" {
			continue
		}
		denied, err := deniedByDefault(a)
		if err != nil {
			return nil, err
		}
		warn := validators.Defaults()[a.rule] == config.Warn
		if len(denied) == 0 {
			if a.refused != "" || warn {
				continue
			}
			return nil, fmt.Errorf("%s: the default policy admits it", a.file)
		}
		if warn && slices.Contains(denied, a.rule) {
			return nil, fmt.Errorf("%s: denied by %s, which warns by default", a.file, a.rule)
		}
		exemptions = append(exemptions, config.Exemption{Namespaces: []string{exemptNamespace(a.rule)}, Rules: denied, Reason: "node suite: attack " + a.rule})
	}
	recipes, err := recipeExemptions()
	if err != nil {
		return nil, err
	}
	exemptions = append(exemptions, recipes...)
	body, err := yaml.Marshal(map[string]any{"apiVersion": config.APIVersion, "kind": config.Kind, "exemptions": exemptions})
	if err != nil {
		return nil, err
	}
	if _, err := config.Parse(body); err != nil {
		return nil, fmt.Errorf("the suite's policy does not load: %w", err)
	}
	return body, nil
}
