# syntax=docker/dockerfile:1
#
# daemonguard: a static Go binary on distroless/static, running as the
# distroless "nonroot" user 65532:65532 — the uid/gid the Helm chart's
# securityContext runs the pod as (test/chart checks they agree).
#
#   docker build -t daemonguard:dev --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) .
#
# `make image` builds the same image without a container engine: it reads
# this file's final stage (base, labels, COPY destination, USER, ENTRYPOINT,
# CMD) and refuses instructions it does not implement (hack/tools/image).

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
# Modules first: the download layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG TARGETOS TARGETARCH
ARG VERSION=dev
# CGO off: a static binary that needs no libc in the final image.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/daemonguard ./cmd/daemonguard

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="daemonguard" \
      org.opencontainers.image.description="Admission webhook that guards Kubernetes DaemonSets: fills in tolerations, a PriorityClass and resources, and rejects unsafe host access." \
      org.opencontainers.image.source="https://github.com/daemonguard/daemonguard" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /out/daemonguard /daemonguard
USER 65532:65532
ENTRYPOINT ["/daemonguard"]
CMD ["serve"]
