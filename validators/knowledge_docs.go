package validators

// KnowledgeList is one list of what daemonguard knows about host paths,
// for the docs: which rule judges it and every entry with why and where
// that is shown.
type KnowledgeList struct {
	// Rule is the rule that judges the list's paths.
	Rule string
	// Access is what makes a path of the list dangerous.
	Access string
	// Linux and Windows are the built-in entries.
	Linux, Windows []Fact
}

// Knowledge returns the built-in known-dangerous lists (copies), in the
// order the docs show them.
func Knowledge() []KnowledgeList {
	return []KnowledgeList{
		{Rule: "writable-sensitive-hostpath", Access: "a writable mount", Linux: clone(defaultSensitiveHostPaths[:]), Windows: clone(windowsSensitiveHostPaths[:])},
		{Rule: "credential-read", Access: "any mount, read-only included", Linux: clone(defaultCredentialPaths[:]), Windows: clone(windowsCredentialPaths[:])},
		{Rule: "container-runtime-socket", Access: "any mount, read-only included", Linux: clone(defaultRuntimeSockets[:]), Windows: clone(windowsRuntimePipes[:])},
		{Rule: "host-control-socket", Access: "any mount, read-only included", Linux: clone(defaultHostControlSockets[:]), Windows: clone(windowsHostControlSockets[:])},
		{Rule: "writable-pod-logs", Access: "a writable mount", Linux: podLogFacts(podLogPaths[:]), Windows: podLogFacts(windowsPodLogPaths[:])},
	}
}

func clone(f []Fact) []Fact { return append([]Fact(nil), f...) }

func podLogFacts(paths []string) []Fact {
	out := make([]Fact, len(paths))
	for i, p := range paths {
		out[i] = Fact{Path: p, Why: "the kubelet reads these files as root for kubectl logs and follows a symlink planted there",
			Source: "https://github.com/kubernetes/kubernetes/issues/93734 (kube-hunter KHV047); kubernetes/kubernetes pkg/kubelet/kuberuntime/logs"}
	}
	return out
}
