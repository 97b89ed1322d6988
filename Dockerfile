# syntax=docker/dockerfile:1
#
# daemonguard: a static Go binary on distroless/static, running as the
# distroless "nonroot" user 65532:65532 — the uid/gid the Helm chart's
# securityContext runs the pod as (test/chart checks they agree).
#
#   docker build -t daemonguard:dev --build-arg VERSION=$(git describe --tags --always --dirty) .

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
COPY --from=build /out/daemonguard /daemonguard
USER 65532:65532
ENTRYPOINT ["/daemonguard"]
CMD ["serve"]
