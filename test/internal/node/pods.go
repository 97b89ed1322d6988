package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/daemonguard/daemonguard/test/internal/node/proberesult"
)

// LogPath is the machine path of a container's current log file, where
// the kubelet has the runtime write it: /var/log/pods/NS_NAME_UID/CONTAINER/N.log
// on the node.
func (n *Node) LogPath(pod *corev1.Pod, container string) string {
	restarts := 0
	for _, st := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if st.Name == container {
			restarts = int(st.RestartCount)
		}
	}
	return n.Path(filepath.Join("/var/log/pods", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID), container, strconv.Itoa(restarts)+".log"))
}

// ReadLog returns a container's output as written to its log file on the
// node: the CRI log format's prefixes removed, partial lines joined.
func (n *Node) ReadLog(pod *corev1.Pod, container string) (string, error) {
	b, err := os.ReadFile(n.LogPath(pod, container))
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		// TIMESTAMP STREAM P|F CONTENT
		parts := strings.SplitN(line, " ", 4)
		if len(parts) < 4 {
			continue
		}
		out.WriteString(parts[3])
		if parts[2] == "F" {
			out.WriteByte('\n')
		}
	}
	return out.String(), nil
}

// ProbeResult is the report of the probe in a container, from the
// container's termination message once it has terminated, else from its
// log file on the node.
func (n *Node) ProbeResult(pod *corev1.Pod, container string) (*proberesult.Result, error) {
	for _, st := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if st.Name == container && st.State.Terminated != nil && st.State.Terminated.Message != "" {
			if r, err := proberesult.Parse(st.State.Terminated.Message); err == nil {
				return r, nil
			}
		}
	}
	out, err := n.ReadLog(pod, container)
	if err != nil {
		return nil, err
	}
	return proberesult.Parse(out)
}

// KubeletGet makes a GET on the kubelet's own API (as kube-apiserver would
// to serve pods/log, on 127.0.0.1 with no client certificate: see the
// kubelet's configuration) and returns the status code and body.
func (n *Node) KubeletGet(ctx context.Context, path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	hc := &http.Client{Transport: &http.Transport{
		// The kubelet's self-signed serving certificate; loopback only.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d%s", n.kubeletPort, path), nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b), err
}
