package validators

import "github.com/daemonguard/daemonguard/internal/config"

// Registry lists every rule, in the order they run. Docs, the policy file's
// schema and the exemption names are generated or checked from it: adding a
// rule is a file in this package and one line here.
func Registry() []Definition {
	return []Definition{
		defineHostPIDWritableHostPath(),
		defineHostPIDPrivileged(),
		defineWritableSensitiveHostPath(),
		defineContainerRuntimeSocket(),
		defineHostControlSocket(),
		defineCredentialRead(),
		defineCredentialAncestorRead(),
		defineWritablePodLogs(),
		defineWritableVarLog(),
		defineUnknownWritableHostPath(),
		defineUnknownSocket(),
		defineUnknownHostPathRead(),
		defineNestedHostPath(),
		defineBidirectionalMountPropagation(),
		definePrivilegedContainer(),
		defineHostPIDPtrace(),
		defineHostPIDPtraceUnconfined(),
		defineHostPIDAsRoot(),
		defineHostPIDSharedUID(),
		defineKernelCapability(),
		defineReadonlyNotRecursive(),
		defineHostIPC(),
		defineGitRepoVolume(),
		defineFileOrCreate(),
		defineUnmaskedProcMount(),
		defineIneffectiveToleration(),
		defineHostPortSurge(),
		definePriorityClassMissing(),
		defineNodeCoverage(),
		defineMatchesNoNode(),
		defineDoesNotFit(),
	}
}

// Defaults returns each rule's default action by id.
func Defaults() map[string]config.Action {
	out := map[string]config.Action{}
	for _, d := range Registry() {
		out[d.ID] = d.Default
	}
	return out
}
