# syntax=docker/dockerfile:1
# The taskroute image: the manager (controllers + embedded matching service) and the
# taskroute CLI, as static binaries on distroless, running as a non-root user.
#   docker build -t ghcr.io/taskroute/taskroute:dev .

FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
# Printed by --version and in the startup logs (make docker-build passes both).
ARG VERSION=devel
ARG COMMIT=
WORKDIR /src

# Dependencies first, so source edits do not invalidate the module download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download

COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
COPY pkg/ pkg/

# Static, reproducible binaries: no cgo, no local paths, no VCS stamping (no .git here):
# the version and commit come from the build arguments.
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    LDFLAGS="-s -w -X github.com/taskroute/taskroute/internal/version.version=${VERSION} -X github.com/taskroute/taskroute/internal/version.commit=${COMMIT}" && \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags="$LDFLAGS" -o /out/manager ./cmd/manager && \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags="$LDFLAGS" -o /out/taskroute ./cmd/taskroute

FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.source="https://github.com/taskroute/taskroute" \
      org.opencontainers.image.description="taskroute manager and CLI"
WORKDIR /
COPY --from=builder /out/manager /manager
COPY --from=builder /out/taskroute /taskroute
# 65532 is distroless's "nonroot"; numeric, so runAsNonRoot can verify it.
USER 65532:65532
ENTRYPOINT ["/manager"]
