// Package node proves daemonguard's threat model on a real node: containerd,
// runc and a real kubelet in a scratch root of their own
// (test/internal/node), with the real controller-manager and scheduler and
// the webhook from the shipped configurations. For every enforced rule its
// attack DaemonSet is denied by the default policy, then admitted by an
// exemption and shown doing the harm on the node (attacks_test.go); the
// identity facts the access model relies on, and paths the node executes,
// are shown (identity_test.go, lab_test.go); every allowed-corpus
// configuration and every recipe starts as daemonguard mutates it
// (agents_test.go). Afterwards the
// machine's /etc, /opt, /var/lib and /run, its cgroups and its network
// links are compared with a snapshot taken before: the node changed nothing
// outside its scratch root.
//
// It needs root and containerd, runc and the CNI plugins
// (apt-get install containerd runc containernetworking-plugins); without
// them it fails, unless DAEMONGUARD_NO_NODE=1 says to skip it. Run it with
// `make test` or `make node-test`.
package node

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/daemonguard/daemonguard/test/internal/node"
	"github.com/daemonguard/daemonguard/test/internal/sim"
)

// nd is the node every test runs on.
var nd *node.Node

// What the suite plants on the node (node paths).
const (
	// nodeSecretKey is a key file among the node's credentials; its lines
	// are what the attacks read.
	nodeSecretKey = "/etc/kubernetes/pki/daemonguard-secret.key"
	// rootOnlyFile is root:root 0600; rootOnlySocket root:root 0660,
	// served by the suite.
	rootOnlyDir    = "/var/lib/daemonguard-root-only"
	rootOnlyFile   = rootOnlyDir + "/secret"
	rootOnlySocket = "/run/daemonguard-root-only/api.sock"
	// roWithSubmount is a directory with a tmpfs mounted at sub.
	roWithSubmount = "/var/lib/daemonguard-ro"
)

// nodeSecret is nodeSecretKey's content: lines that are no CRI log lines.
const nodeSecret = "-----BEGIN DAEMONGUARD TEST KEY-----\nc2VjcmV0LWxpbmUtb25l-node-secret-line-2\nc2VjcmV0LWxpbmUtdHdv-node-secret-line-3\n-----END DAEMONGUARD TEST KEY-----\n"

// rootOnlySecret is rootOnlyFile's content.
const rootOnlySecret = "DAEMONGUARD-ROOT-ONLY-SECRET\n"

func TestMain(m *testing.M) {
	// The node's init is this test binary, re-executed in the node's
	// namespaces.
	node.RunInitIfRequested()
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	if os.Getenv("DAEMONGUARD_NO_NODE") != "" {
		fmt.Println("node: DAEMONGUARD_NO_NODE is set: the real-node suite is skipped")
		return 0
	}
	if err := node.Requirements(); err != nil {
		fmt.Fprintf(os.Stderr, "node: %v\n", err)
		return 1
	}
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "node: KUBEBUILDER_ASSETS is not set; run `make test` or `make node-test`, which build kube-apiserver, etcd, kube-controller-manager, kube-scheduler and the kubelet from the Go module proxy")
		return 1
	}
	roots, skips := node.Isolation()
	before, err := node.TakeSnapshot(roots, skips)
	if err != nil {
		fmt.Fprintf(os.Stderr, "node: snapshot before: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "daemonguard-node-suite-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := runNode(m, dir)
	after, err := node.TakeSnapshot(roots, skips)
	if err != nil {
		fmt.Fprintf(os.Stderr, "node: snapshot after: %v\n", err)
		return 1
	}
	// The proof of isolation: nothing outside the node's scratch root
	// changed while the node ran the attacks.
	if diff := before.Diff(after); len(diff) > 0 {
		fmt.Fprintf(os.Stderr, "--- FAIL: isolation: the machine changed outside the node's root (%d differences):\n  %s\n", len(diff), strings.Join(diff, "\n  "))
		code = 1
	} else {
		fmt.Printf("--- PASS: isolation: %s (%d entries; skipped as changing by themselves: %s), the cgroup hierarchies' top two levels and the network links are as before the suite (other nodes' cgroups, bridges and veths, and the children of the cgroup that launched the suite aside; this node's own are gone)\n",
			strings.Join(roots, ", "), len(before), strings.Join(skips, ", "))
	}
	if code == 0 {
		_ = os.RemoveAll(dir)
	} else {
		fmt.Fprintf(os.Stderr, "node: logs kept in %s\n", dir)
	}
	return code
}

func runNode(m *testing.M, dir string) int {
	policy := filepath.Join(dir, "policy.yaml")
	body, err := suitePolicy()
	if err != nil {
		fmt.Fprintf(os.Stderr, "node: the suite's policy: %v\n", err)
		return 1
	}
	if err := os.WriteFile(policy, body, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	loop := loopDevice()
	start := time.Now()
	nd, err = node.Start(context.Background(), node.Options{
		StateDir: filepath.Join(dir, "state"), PolicyFile: policy, PolicyPollInterval: 500 * time.Millisecond,
		Tmpfs: []string{roWithSubmount + "/sub"}, Devices: []string{loop}, Prepare: plant,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "node: %v\n", err)
		return 1
	}
	fmt.Printf("node: %s Ready with containerd, runc and the kubelet in %s (root %s)\n", node.Name, time.Since(start).Round(time.Millisecond), nd.Root)
	// Interrupted (Ctrl-C, or make killed), stop the node before exiting:
	// its init would die with this process, but not its bridge, cgroups
	// and scratch root. A stdout nobody reads any more (go test gone) must
	// not kill this process on its next write either.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	go func() {
		s := <-signals
		fmt.Fprintf(os.Stderr, "node: %v: stopping the node\n", s)
		if err := nd.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "node: stopping: %v\n", err)
		}
		fmt.Fprintf(os.Stderr, "node: logs kept in %s\n", dir)
		os.Exit(1)
	}()
	stopServer, err := serveRootOnlySocket()
	code := 1
	if err != nil {
		fmt.Fprintf(os.Stderr, "node: %v\n", err)
	} else if err := nd.CreateNamespace(context.Background(), attackNamespace); err != nil {
		fmt.Fprintf(os.Stderr, "node: %v\n", err)
	} else {
		code = m.Run()
	}
	if stopServer != nil {
		stopServer()
	}
	stopStart := time.Now()
	if err := nd.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "node: stopping: %v\n", err)
		code = 1
	}
	fmt.Printf("node: stopped and removed in %s\n", time.Since(stopStart).Round(time.Millisecond))
	if left := nd.Leftovers(); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "--- FAIL: isolation: the node left %s\n", strings.Join(left, ", "))
		code = 1
	}
	return code
}

// plant writes what the tests read on the node, before it starts.
func plant(root string) error {
	files := []struct {
		path, body string
		mode       os.FileMode
	}{
		{nodeSecretKey, nodeSecret, 0o600},
		{rootOnlyFile, rootOnlySecret, 0o600},
	}
	for _, f := range files {
		p := filepath.Join(root, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(f.body), f.mode); err != nil {
			return err
		}
	}
	for _, d := range []string{roWithSubmount, filepath.Dir(rootOnlySocket)} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// serveRootOnlySocket listens on rootOnlySocket (root:root 0660) and
// answers "hello" to every connection: a socket only root may use.
func serveRootOnlySocket() (func(), error) {
	p := nd.Path(rootOnlySocket)
	l, err := net.Listen("unix", p)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(p, 0o660); err != nil {
		l.Close()
		return nil, err
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("hello from a root-only socket\n"))
			c.Close()
		}
	}()
	return func() { l.Close() }, nil
}

// loopDevice is a loop device of this machine for the device test: the
// highest numbered, least likely in use. Opening it unbound reads nothing.
func loopDevice() string {
	matches, _ := filepath.Glob("/dev/loop[0-9]*")
	sort.Slice(matches, func(i, j int) bool {
		if len(matches[i]) != len(matches[j]) {
			return len(matches[i]) < len(matches[j])
		}
		return matches[i] < matches[j]
	})
	if len(matches) == 0 {
		return ""
	}
	return matches[len(matches)-1]
}

// TestNodeIsItsOwnRoot: the node's PID 1 sees the scratch root as /, with
// the planted files; the machine does not see them, nor any of the node's
// mounts; the Node lists the imported images.
func TestNodeIsItsOwnRoot(t *testing.T) {
	info, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", nd.InitPid()))
	if err != nil {
		t.Fatal(err)
	}
	var rootLine string
	for _, line := range strings.Split(string(info), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == "/" {
			rootLine = line
		}
	}
	if !strings.Contains(rootLine, " "+nd.Root+" / ") {
		t.Errorf("the node's / is not its scratch root %s: %q", nd.Root, rootLine)
	}
	if _, err := os.Stat(nodeSecretKey); err == nil {
		t.Errorf("the machine has %s: the plant went to the machine", nodeSecretKey)
	}
	if _, err := os.Stat(filepath.Join(fmt.Sprintf("/proc/%d/root", nd.InitPid()), nodeSecretKey)); err != nil {
		t.Errorf("the node does not see its planted key: %v", err)
	}
	self, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(self), nd.Root) {
		t.Errorf("the machine's mount table shows the node's mounts under %s", nd.Root)
	}
	var n corev1.Node
	if err := nd.Client.Get(context.Background(), keyOf(node.Name, ""), &n); err != nil {
		t.Fatal(err)
	}
	if missing := node.MissingImages(&n); len(missing) > 0 {
		t.Errorf("status.images lacks %v", missing)
	}
	if !sim.Ready(&n) {
		t.Errorf("node %s is not Ready", n.Name)
	}
	t.Logf("node %s: %s, %s, kubelet %s", n.Name, n.Status.NodeInfo.ContainerRuntimeVersion, n.Status.NodeInfo.OSImage, n.Status.NodeInfo.KubeletVersion)
}

// attackNamespace is where attacks are created under the default policy
// (no exemption): they must be denied there.
const attackNamespace = "attacks"

// namespaceObject is a namespace named name.
func namespaceObject(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}
