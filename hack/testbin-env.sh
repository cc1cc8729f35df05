#!/usr/bin/env bash
# Prints shell exports that point the tests at the pinned control-plane binaries:
#   eval "$(hack/testbin-env.sh)"
# KUBEBUILDER_ASSETS (envtest: etcd + kube-apiserver in one folder), and TASKROUTE_*_BIN
# for the local cluster (controller-manager, scheduler, kwok, helm). Run hack/testbin.sh
# first; this script only links and prints.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=hack/versions.sh
source "$here/versions.sh"
assets="$TASKROUTE_CACHE/envtest/kubernetes-$KUBERNETES_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$assets"
ln -sf "$ETCD_BIN/etcd" "$assets/etcd"
ln -sf "$K8S_BIN/kube-apiserver" "$assets/kube-apiserver"
[[ -x "$K8S_BIN/kubectl" ]] && ln -sf "$K8S_BIN/kubectl" "$assets/kubectl"
# envtest gives kube-apiserver 20s to become ready by default; on a busy 2-core machine
# it has taken longer, so allow a minute.
cat <<OUT
export KUBEBUILDER_ASSETS='$assets'
export KUBEBUILDER_CONTROLPLANE_START_TIMEOUT='${KUBEBUILDER_CONTROLPLANE_START_TIMEOUT:-60s}'
export TASKROUTE_KUBE_BIN_DIR='$K8S_BIN'
export TASKROUTE_ETCD_BIN='$ETCD_BIN/etcd'
export TASKROUTE_KWOK_BIN='$KWOK_BIN/kwok'
export TASKROUTE_KWOK_STAGES='$KWOK_BIN/stages.yaml'
export TASKROUTE_HELM_BIN='$HELM_BIN/helm'
OUT
