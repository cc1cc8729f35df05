# Pinned versions of every tool the build and the tests use, and where they are cached.
# Sourced by the other hack/ scripts; changing a pin here rebuilds that tool only.
# shellcheck shell=bash
KUBERNETES_VERSION=v1.36.3      # kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
ETCD_VERSION=v3.6.16            # 3.6+: watch-list clients need RequestWatchProgress
KWOK_VERSION=v0.8.0
HELM_VERSION=v4.3.1
CONTROLLER_TOOLS_VERSION=v0.21.0
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.0
PROTOC_GEN_GO_VTPROTO_VERSION=v0.6.1-0.20240319094008-0393e58bdf10 # reflection-free Marshal/Unmarshal/Size (matching protocol); the runtime go.mod requires
BUF_VERSION=v1.75.0             # compiles .proto files; drives the three plugins above

TASKROUTE_CACHE=${TASKROUTE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/taskroute}
K8S_BIN=$TASKROUTE_CACHE/bin/kubernetes-$KUBERNETES_VERSION
ETCD_BIN=$TASKROUTE_CACHE/bin/etcd-$ETCD_VERSION
KWOK_BIN=$TASKROUTE_CACHE/bin/kwok-$KWOK_VERSION
HELM_BIN=$TASKROUTE_CACHE/bin/helm-$HELM_VERSION
TOOLS_BIN=$TASKROUTE_CACHE/bin/tools
KUSTOMIZE_VERSION=v5.8.1        # dist/install.yaml (hack/sync-chart.sh); v5.8.2+ needs go 1.27
KUSTOMIZE_BIN=$TASKROUTE_CACHE/bin/kustomize-$KUSTOMIZE_VERSION
