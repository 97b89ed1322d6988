# daemonguard — see README.md. Everything here needs only Go: the control
# plane binaries are built from the Go module proxy into .cache/ (git-ignored).
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN     := bin/daemonguard
CACHE   := .cache

.PHONY: all build image test unit integration integration-oldest soak bench bench-e2e bench-explain bench-scale demo dev-up dev-down sim-up sim-down node-up node-down node-test node-tools tools control-plane sim-tools fmt vet lint generate clean

all: build

# The flags every daemonguard binary is built with (the Dockerfile spells
# out the same ones).
GO_BUILD_FLAGS := -trimpath -ldflags "-s -w -X main.version=$(VERSION)"

# CGO off, as the Dockerfile builds it: a static binary, the same on every
# distribution.
build: ## build bin/daemonguard
	CGO_ENABLED=0 $(GO) build $(GO_BUILD_FLAGS) -o $(BIN) ./cmd/daemonguard

# The image: the Dockerfile's final stage, built without a container engine
# by hack/tools/image (its own module, pinning go-containerregistry). Every
# timestamp is SOURCE_DATE_EPOCH (the commit's time), so a rebuild of a
# commit has the same digest.
IMAGE_LAYOUT      ?= bin/image
IMAGE_PLATFORMS   ?= linux/amd64,linux/arm64
REVISION          ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

image: ## the OCI image for IMAGE_PLATFORMS (linux/amd64,linux/arm64), no Docker needed, as an OCI layout in bin/image; prints its path last
	$(GO) run -C hack/tools/image . -root "$(CURDIR)" -o "$(IMAGE_LAYOUT)" -platforms $(IMAGE_PLATFORMS) -epoch $(SOURCE_DATE_EPOCH) \
		-build-arg VERSION=$(VERSION) -build-arg REVISION=$(REVISION) -- $(GO_BUILD_FLAGS) ./cmd/daemonguard

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# staticcheck runs from the Go module proxy at a pinned version (built once
# into the Go build cache, then seconds).
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2

# actionlint checks .github/workflows (and the shell in them when
# shellcheck is on PATH), pinned the same way.
ACTIONLINT ?= github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

# The tool modules with Go code of their own.
TOOL_MODULES := hack/tools/image hack/tools/promql

lint: ## staticcheck over every package (and the tool modules), actionlint over the workflows
	$(GO) run $(STATICCHECK) ./...
	for m in $(TOOL_MODULES); do $(GO) -C $$m vet ./...; $(GO) -C $$m run $(STATICCHECK) ./...; done
	$(GO) run $(ACTIONLINT)

generate: ## regenerate the docs and schema enums from the rule and mutator registries
	$(GO) generate ./...

unit: ## unit, handler and fuzz-seed tests, with the race detector (no control plane); the tool modules' tests
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /test/)
	for m in $(TOOL_MODULES); do $(GO) -C $$m test -count=1 ./...; done

# The real-node suite (test/node) also needs the kubelet; DAEMONGUARD_NO_NODE=1
# skips that suite, and then the kubelet is not built.
INTEGRATION_TOOLS := $(if $(DAEMONGUARD_NO_NODE),sim,node)

tools: ## build kube-apiserver (the newest and the oldest supported), etcd, helm, the sim tools and the kubelet from the Go module proxy (cached)
	hack/tools.sh ensure kube-apiserver etcd helm kube-apiserver-oldest $(INTEGRATION_TOOLS)

control-plane: ## build only kube-apiserver and etcd (what demo and dev-up need)
	hack/tools.sh ensure kube-apiserver etcd

sim-tools: ## build what the simulated cluster needs: kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok
	hack/tools.sh ensure sim

node-tools: ## build what the real node needs: kube-apiserver, etcd, kube-controller-manager, kube-scheduler, the kubelet
	hack/tools.sh ensure node

# The suites that judge what the API server itself does around the webhook
# (admission, warnings, ratcheting, matchConditions and the webhook's own
# writes to its configuration, Events, scan and Reports) run a second time on
# the oldest supported kube-apiserver (hack/tools/k8s-oldest/go.mod). The
# simulated cluster, the real node and the chart stay on the newest.
OLDEST_SUITES := ./test/integration/ ./test/reports/

integration: tools image ## the suites on a real kube-apiserver + etcd, on the simulated cluster (test/sim) and on a real node (test/node: root, containerd, runc); test/chart also reads the image; then test/integration and test/reports on the oldest supported kube-apiserver
	KUBEBUILDER_ASSETS=$$(hack/tools.sh path) HELM=$$(hack/tools.sh helm) DAEMONGUARD_IMAGE="$(abspath $(IMAGE_LAYOUT))" $(GO) test -count=1 -timeout 30m ./test/...
	KUBEBUILDER_ASSETS=$$(hack/tools.sh path oldest) $(GO) test -count=1 -timeout 15m $(OLDEST_SUITES)

integration-oldest: ## only test/integration and test/reports, on the oldest supported kube-apiserver
	hack/tools.sh ensure kube-apiserver-oldest etcd
	KUBEBUILDER_ASSETS=$$(hack/tools.sh path oldest) $(GO) test -count=1 -timeout 15m $(OLDEST_SUITES)

test: fmt vet lint unit integration ## everything: what .ci/run calls

soak: control-plane ## test/faults at the chart's real shutdown timings, longer floods, more restarts (minutes; not in CI); ends with BENCH lines
	@mkdir -p $(CACHE)
	DAEMONGUARD_SOAK=1 KUBEBUILDER_ASSETS=$$(hack/tools.sh path) $(GO) test -count=1 -timeout 60m -v ./test/faults/ | tee $(CACHE)/soak.txt
	@grep '^BENCH ' $(CACHE)/soak.txt

bench: ## admission benchmarks against controller-runtime's generic handlers
	@mkdir -p $(CACHE)
	$(GO) test -run '^$$' -bench . -benchmem -count 6 ./test/bench/ | tee $(CACHE)/bench.txt
	@$(GO) run ./hack/benchsummary $(CACHE)/bench.txt

bench-e2e: control-plane ## DaemonSet applies through kube-apiserver: no webhooks vs daemonguard serve vs VAP+MAP vs an allow-everything webhook pair (about 8 minutes; not in CI); ends with BENCH lines
	@mkdir -p $(CACHE)
	KUBEBUILDER_ASSETS=$$(hack/tools.sh path) $(GO) test -count=1 -run '^$$' -bench '^BenchmarkE2E$$' -benchtime 1x -timeout 30m ./test/benche2e/ | tee $(CACHE)/bench-e2e.txt
	@grep '^BENCH ' $(CACHE)/bench-e2e.txt

EXPLAIN_BENCH_NODES ?= 1000
EXPLAIN_BENCH_STATIC ?=

bench-explain: sim-tools ## daemonguard explain on EXPLAIN_BENCH_NODES (1000) simulated nodes: API requests and wall time (minutes; not in CI); ends with BENCH lines
	@mkdir -p $(CACHE)
	EXPLAIN_BENCH_NODES=$(EXPLAIN_BENCH_NODES) EXPLAIN_BENCH_STATIC=$(EXPLAIN_BENCH_STATIC) KUBEBUILDER_ASSETS=$$(hack/tools.sh path) $(GO) test -count=1 -run '^$$' -bench '^BenchmarkExplain$$' -benchtime 20x -timeout 30m ./test/benchexplain/ | tee $(CACHE)/bench-explain.txt
	@grep '^BENCH ' $(CACHE)/bench-explain.txt

SCALE_BENCH_NODES ?= 1000,5000
SCALE_BENCH_DAEMONSETS ?= 2000

bench-scale: sim-tools ## node cache memory, admission p99 with node checks, the Reporter's full resync and scan on SCALE_BENCH_NODES (1000,5000) nodes and SCALE_BENCH_DAEMONSETS (2000) DaemonSets, with the growth (about 12 minutes; not in CI); ends with BENCH lines
	@mkdir -p $(CACHE)
	SCALE_BENCH_NODES=$(SCALE_BENCH_NODES) SCALE_BENCH_DAEMONSETS=$(SCALE_BENCH_DAEMONSETS) KUBEBUILDER_ASSETS=$$(hack/tools.sh path) $(GO) test -count=1 -run '^$$' -bench '^BenchmarkScale$$' -benchtime 1x -timeout 45m ./test/benchscale/ | tee $(CACHE)/bench-scale.txt
	@grep '^BENCH ' $(CACHE)/bench-scale.txt

DEMO := bin/daemonguard-demo

demo: sim-tools ## local control plane + webhook + example DaemonSets, then clean up
	$(GO) build -o $(DEMO) ./test/demo
	KUBEBUILDER_ASSETS=$$(hack/tools.sh path) $(DEMO)

dev-up: control-plane ## leave the control plane and webhook running; kubeconfig in .dev/kubeconfig
	$(GO) build -o $(DEMO) ./test/demo
	KUBEBUILDER_ASSETS=$$(hack/tools.sh path) $(DEMO) --dev-up

dev-down: ## stop what dev-up started and remove .dev/
	$(GO) build -o $(DEMO) ./test/demo
	$(DEMO) --dev-down

SIM_NODES ?= 100

sim-up: sim-tools ## leave a simulated cluster of SIM_NODES (100) kwok nodes, the real controller-manager and scheduler, and the webhook running; kubeconfig in .sim/kubeconfig
	$(GO) build -o $(DEMO) ./test/demo
	KUBEBUILDER_ASSETS=$$(hack/tools.sh path) $(DEMO) --sim-up --sim-nodes=$(SIM_NODES)

sim-down: ## stop what sim-up started and remove .sim/
	$(GO) build -o $(DEMO) ./test/demo
	$(DEMO) --sim-down

NODEUP := bin/daemonguard-nodeup

node-test: node-tools ## only the real-node suite (test/node): attacks, identity facts and agents on containerd + runc + kubelet (root)
	KUBEBUILDER_ASSETS=$$(hack/tools.sh path) $(GO) test -count=1 -timeout 30m -v ./test/node/

node-up: node-tools ## leave a real node (containerd, runc, kubelet in a scratch root of its own), its control plane and the webhook running; kubeconfig in .node/kubeconfig
	$(GO) build -o $(NODEUP) ./test/node/nodeup
	KUBEBUILDER_ASSETS=$$(hack/tools.sh path) $(NODEUP) --up

node-down: ## stop what node-up started and remove .node/ (and the node's bridge and cgroups)
	$(GO) build -o $(NODEUP) ./test/node/nodeup
	$(NODEUP) --down

clean:
	rm -rf bin .dev .sim
