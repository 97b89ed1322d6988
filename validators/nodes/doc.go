// Package nodes holds daemonguard's DaemonSet-aware checks: pure functions
// over a DaemonSet (as admitted, after mutation) and the cluster's nodes that
// say what the DaemonSet controller and the scheduler will do with it.
//
//   - [Coverage]: on which nodes the DaemonSet controller wants a daemon pod,
//     decided with the controller's own predicates (pkg/controller/daemon in
//     k8s.io/kubernetes v1.37.2: nodeName, required node affinity and
//     nodeSelector, NoSchedule/NoExecute taints against the template's
//     tolerations plus the ones the controller adds itself), and why the
//     other nodes are left out, grouped by reason.
//   - [Coverage.MatchesNoNode]: the nodeSelector or required node affinity
//     matches none of the nodes.
//   - [Fit]: whether one daemon pod's requests (what the scheduler's
//     NodeResourcesFit plugin computes: containers summed, init containers'
//     maximum, sidecars, pod overhead, pod-level resources) fit each covered
//     node's allocatable at all, grouped by node pool.
//   - [HostPortSurge]: host ports together with a RollingUpdate maxSurge > 0,
//     a rollout that can never progress (kubernetes#106417: the surge pod
//     needs the port its predecessor still holds).
//
// The package calls k8s.io/component-helpers, the library the controller and
// the scheduler share, wherever that has the logic; what it copies from
// k8s.io/kubernetes (which a module cannot import) is marked as such. Nothing
// here talks to an API server: the caller lists the nodes.
package nodes
