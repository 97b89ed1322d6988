#!/usr/bin/env bash
# Builds pinned kube-apiserver, etcd and helm binaries (and, for the simulated
# cluster, kube-controller-manager, kube-scheduler and kwok; for the real node,
# the kubelet) from the Go module proxy alone (no release-tarball downloads)
# and caches them under .cache/tools/.
#
# Usage:
#   hack/tools.sh ensure [TOOL ...]  build what is missing (no args: kube-apiserver, etcd, helm)
#                                    TOOL: kube-apiserver etcd helm kube-controller-manager
#                                          kube-scheduler kwok kubelet kube-apiserver-oldest
#                                          (the oldest supported API server, which the
#                                          integration suite also runs on), or `sim` for all the
#                                          simulated cluster needs, `node` for all the real
#                                          node suite needs (the sim tools and the kubelet;
#                                          containerd, runc and the CNI plugins come from the
#                                          distribution: apt-get install containerd runc
#                                          containernetworking-plugins)
#   hack/tools.sh path [latest|oldest]
#                           print the KUBEBUILDER_ASSETS dir (holds kube-apiserver and etcd,
#                           and links to the sim tools and the kubelet once they are built);
#                           `oldest`: the one with the oldest supported kube-apiserver
#                           (and the same etcd), for `make integration`'s second run
#   hack/tools.sh helm      print the path of the helm binary
#   hack/tools.sh bin TOOL  print the path of TOOL's binary
#   hack/tools.sh versions  print the pinned versions
#
# Pinned versions come from the tool modules' go.mod files, the single source
# of truth:
#   hack/tools/k8s/go.mod   k8s.io/kubernetes (kube-apiserver, kube-controller-manager,
#                           kube-scheduler, kubelet)
#   hack/tools/k8s-oldest/go.mod
#                           k8s.io/kubernetes, the oldest supported version (kube-apiserver
#                           only: kube-apiserver-oldest)
#   hack/tools/etcd/go.mod  go.etcd.io/etcd/server/v3 (etcd)
#   hack/tools/helm/go.mod  helm.sh/helm/v4 (helm)
#   hack/tools/kwok/go.mod  sigs.k8s.io/kwok (kwok, built against k8s.io v0.37.2)
# To bump one, change its go.mod (for k8s also every staging replace), run
# `go mod tidy` there; the cache path contains the version, so the next
# `ensure` rebuilds.
#
# Typical use:
#   hack/tools.sh ensure kube-apiserver etcd
#   KUBEBUILDER_ASSETS="$(hack/tools.sh path)" go test ./...
#   hack/tools.sh ensure kube-apiserver-oldest etcd
#   KUBEBUILDER_ASSETS="$(hack/tools.sh path oldest)" go test ./test/integration/
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_MOD="${ROOT}/hack/tools"
CACHE="${ROOT}/.cache/tools"

die() { echo "hack/tools.sh: error: $*" >&2; exit 1; }

command -v go >/dev/null 2>&1 || die "go is not on PATH; a Go toolchain is needed to build the tools"

# pinned_version <tool-module-dir> <module-path>: the version required in that go.mod.
pinned_version() {
  local gomod="${TOOLS_MOD}/$1/go.mod" v
  [[ -f "${gomod}" ]] || die "missing ${gomod}"
  v="$(awk -v m="$2" '
    $1 == "require" && $2 == m { print $3; exit }   # single-line require
    $1 == m && $2 ~ /^v/      { print $2; exit }    # inside a require block
  ' "${gomod}")"
  [[ -n "${v}" ]] || die "cannot find the version of $2 in ${gomod}"
  echo "${v}"
}

K8S_VERSION="$(pinned_version k8s k8s.io/kubernetes)"
K8S_OLDEST_VERSION="$(pinned_version k8s-oldest k8s.io/kubernetes)"
ETCD_VERSION="$(pinned_version etcd go.etcd.io/etcd/server/v3)"
HELM_VERSION="$(pinned_version helm helm.sh/helm/v4)"
KWOK_VERSION="$(pinned_version kwok sigs.k8s.io/kwok)"
SIM_TOOLS=(kube-apiserver etcd kube-controller-manager kube-scheduler kwok)
NODE_TOOLS=("${SIM_TOOLS[@]}" kubelet)
read -r HOST_OS HOST_ARCH < <(go env GOHOSTOS GOHOSTARCH | tr '\n' ' '; echo)
PLATFORM="${HOST_OS}-${HOST_ARCH}"

tool_version() {
  case "$1" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet) echo "${K8S_VERSION}" ;;
    kube-apiserver-oldest) echo "${K8S_OLDEST_VERSION}" ;;
    etcd) echo "${ETCD_VERSION}" ;;
    helm) echo "${HELM_VERSION}" ;;
    kwok) echo "${KWOK_VERSION}" ;;
    *) die "unknown tool '$1' (known: kube-apiserver, etcd, helm, kube-controller-manager, kube-scheduler, kwok, kubelet, kube-apiserver-oldest)" ;;
  esac
}

# bin_name <tool>: the binary's name (kube-apiserver-oldest is a kube-apiserver).
bin_name() { echo "${1%-oldest}"; }

# bin_dir <tool>: versioned directory holding that tool's binary; the oldest
# kube-apiserver sits next to the newest, told apart by the version.
bin_dir() { echo "${CACHE}/$(bin_name "$1")-$(tool_version "$1")-${PLATFORM}/bin"; }

# The KUBEBUILDER_ASSETS dir: relative symlinks to kube-apiserver and etcd, so
# bumping etcd does not rebuild kube-apiserver (and vice versa), plus the sim
# tools and the kubelet once built (test/internal/sim and test/internal/node
# look for them next to kube-apiserver).
# The oldest supported kube-apiserver has one of its own (kube-apiserver and
# etcd only: the simulated cluster and the real node run on the newest).
assets_dir() {
  case "${1:-latest}" in
    latest) echo "${CACHE}/envtest-${K8S_VERSION}-etcd-${ETCD_VERSION}-${PLATFORM}/bin" ;;
    oldest) echo "${CACHE}/envtest-${K8S_OLDEST_VERSION}-etcd-${ETCD_VERSION}-${PLATFORM}/bin" ;;
    *) die "unknown API server version '$1' (known: latest, oldest)" ;;
  esac
}

# assets_tools <latest|oldest>: the tools linked into that assets dir.
assets_tools() {
  case "${1:-latest}" in
    latest) echo "${NODE_TOOLS[*]}" ;;
    oldest) echo "kube-apiserver-oldest etcd" ;;
  esac
}

link_assets() {
  local which dir t bin
  for which in latest oldest; do
    dir="$(assets_dir "${which}")"
    for t in $(assets_tools "${which}"); do
      bin="$(bin_name "${t}")"
      if [[ -x "$(bin_dir "${t}")/${bin}" ]]; then
        mkdir -p "${dir}"
        ln -sfn "../../${bin}-$(tool_version "${t}")-${PLATFORM}/bin/${bin}" "${dir}/${bin}"
      fi
    done
  done
}

# build_args <tool>: sets MODDIR, PKG, LDFLAGS, ESTIMATE and SMOKE (args that
# must make the fresh binary exit 0) for that tool.
build_args() {
  case "$1" in
    kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-apiserver-oldest)
      # Same version stamping as kubernetes' hack/lib/version.sh; the build
      # date is the module's publication time, so the build is reproducible.
      local date major minor pkg version
      version="$(tool_version "$1")"
      MODDIR=k8s
      [[ "$1" == kube-apiserver-oldest ]] && MODDIR=k8s-oldest
      date="$(cd "${TOOLS_MOD}/${MODDIR}" && GOWORK=off GOFLAGS=-mod=readonly go list -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes)" ||
        die "cannot resolve k8s.io/kubernetes in hack/tools/${MODDIR} (is the Go module proxy reachable?)"
      major="${version#v}"; major="${major%%.*}"
      minor="${version#v*.}"; minor="${minor%%.*}"
      PKG="k8s.io/kubernetes/cmd/$(bin_name "$1")" SMOKE=(--version)
      case "$1" in
        kube-apiserver) ESTIMATE="~7 minutes" ;;
        # v1.30.14 with Go 1.26: 25 min with an empty build cache for its
        # (older) dependencies, measured while other builds shared the 2 cores.
        kube-apiserver-oldest) ESTIMATE="~10-25 minutes" ;;
        kubelet) ESTIMATE="~9 minutes" ;;
        # Measured on a shared 2-core machine: kube-scheduler alone with an
        # empty build cache 23 min; after kube-apiserver most packages are
        # cached (kube-scheduler then took 41 s).
        *) ESTIMATE="a few minutes once kube-apiserver is built, ~20 without" ;;
      esac
      LDFLAGS="-s -w"
      for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
        LDFLAGS+=" -X ${pkg}.gitVersion=${version} -X ${pkg}.gitMajor=${major} -X ${pkg}.gitMinor=${minor}"
        LDFLAGS+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=${date:-1970-01-01T00:00:00Z}"
      done
      ;;
    etcd)
      # etcd's version is a constant in go.etcd.io/etcd/api/v3/version.
      MODDIR=etcd PKG=go.etcd.io/etcd/server/v3 ESTIMATE="~1 minute" SMOKE=(--version)
      LDFLAGS="-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=module-${ETCD_VERSION}"
      ;;
    kwok)
      # 9 min with an empty build cache on a busy 2-core machine.
      MODDIR=kwok PKG=sigs.k8s.io/kwok/cmd/kwok ESTIMATE="~5-10 minutes" SMOKE=(--version)
      LDFLAGS="-s -w"  # kwok carries its version as a constant (pkg/consts.Version)
      ;;
    helm)
      MODDIR=helm PKG=helm.sh/helm/v4/cmd/helm ESTIMATE="~3 minutes" SMOKE=(version --short)
      LDFLAGS="-s -w -X helm.sh/helm/v4/internal/version.version=${HELM_VERSION} -X helm.sh/helm/v4/internal/version.gitTreeState=clean"
      ;;
  esac
}

ensure_one() {
  local tool="$1" version dir bin tmp start
  version="$(tool_version "${tool}")"
  dir="$(bin_dir "${tool}")"
  bin="${dir}/$(bin_name "${tool}")"
  [[ -x "${bin}" ]] && return 0

  mkdir -p "${dir}"
  # Serialize concurrent `ensure` runs for the same tool; the loser of the
  # race finds the binary already built.
  exec {lockfd}>"${dir}/.lock"
  if command -v flock >/dev/null 2>&1; then flock "${lockfd}"; fi
  if [[ -x "${bin}" ]]; then exec {lockfd}>&-; return 0; fi

  build_args "${tool}"
  echo "building ${tool} ${version} from the Go module proxy (first time takes ${ESTIMATE}; cached in .cache/tools)" >&2
  tmp="${dir}/.$(bin_name "${tool}").tmp.$$"
  start="${SECONDS}"
  # Build to a temp name and rename: an interrupted build never leaves a
  # binary behind that `ensure` would take for a good one.
  trap 'rm -f "'"${tmp}"'"' EXIT
  trap 'exit 130' INT TERM HUP
  if ! (cd "${TOOLS_MOD}/${MODDIR}" &&
        GOWORK=off GOFLAGS=-mod=readonly CGO_ENABLED=0 \
        go build -trimpath -ldflags "${LDFLAGS}" -o "${tmp}" "${PKG}"); then
    rm -f "${tmp}"
    die "building ${tool} ${version} failed (module hack/tools/${MODDIR}, package ${PKG}); see the go output above"
  fi
  HOME="${HOME:-/tmp}" "${tmp}" "${SMOKE[@]}" >/dev/null 2>&1 ||
    { rm -f "${tmp}"; die "the freshly built ${tool} does not run (${tool} ${SMOKE[*]} failed)"; }
  mv -f "${tmp}" "${bin}"
  trap - EXIT INT TERM HUP
  exec {lockfd}>&-
  echo "built ${bin#"${ROOT}/"} in $((SECONDS - start))s" >&2
}

cmd="${1:-}"
[[ $# -gt 0 ]] && shift
case "${cmd}" in
  ensure)
    tools=()
    for t in "$@"; do
      case "${t}" in
        sim) tools+=("${SIM_TOOLS[@]}") ;;
        node) tools+=("${NODE_TOOLS[@]}") ;;
        *) tools+=("${t}") ;;
      esac
    done
    [[ ${#tools[@]} -gt 0 ]] || tools=(kube-apiserver etcd helm)
    for t in "${tools[@]}"; do tool_version "${t}" >/dev/null; done  # validate names first
    for t in "${tools[@]}"; do ensure_one "${t}"; done
    link_assets
    ;;
  path)
    [[ $# -le 1 ]] || die "usage: hack/tools.sh path [latest|oldest]"
    which="${1:-latest}"
    dir="$(assets_dir "${which}")"  # validates the name
    link_assets
    hint="hack/tools.sh ensure"
    [[ "${which}" == oldest ]] && hint="hack/tools.sh ensure kube-apiserver-oldest etcd"
    for t in kube-apiserver etcd; do
      [[ -x "${dir}/${t}" ]] || echo "hack/tools.sh: warning: ${t} is not built yet; run: ${hint}" >&2
    done
    echo "${dir}"
    ;;
  helm)
    bin="$(bin_dir helm)/helm"
    [[ -x "${bin}" ]] || echo "hack/tools.sh: warning: helm is not built yet; run: hack/tools.sh ensure helm" >&2
    echo "${bin}"
    ;;
  bin)
    [[ $# -eq 1 ]] || die "usage: hack/tools.sh bin TOOL"
    tool_version "$1" >/dev/null  # validate the name (dies here, not in a subshell)
    bin="$(bin_dir "$1")/$(bin_name "$1")"
    [[ -x "${bin}" ]] || echo "hack/tools.sh: warning: $1 is not built yet; run: hack/tools.sh ensure $1" >&2
    echo "${bin}"
    ;;
  versions)
    echo "kube-apiserver ${K8S_VERSION}"
    echo "kube-apiserver-oldest ${K8S_OLDEST_VERSION}"
    echo "kube-controller-manager ${K8S_VERSION}"
    echo "kube-scheduler ${K8S_VERSION}"
    echo "kubelet ${K8S_VERSION}"
    echo "etcd ${ETCD_VERSION}"
    echo "helm ${HELM_VERSION}"
    echo "kwok ${KWOK_VERSION}"
    ;;
  *)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
    [[ -z "${cmd}" || "${cmd}" == -h || "${cmd}" == --help || "${cmd}" == help ]] || die "unknown command '${cmd}'"
    exit 2
    ;;
esac
